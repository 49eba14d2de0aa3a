package seal

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSealOpen(t *testing.T) {
	dir := t.TempDir()
	b, err := Load(dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("https://hooks.slack.com/services/T0/B0/very-secret")
	sealed := b.Seal(secret)
	if bytes.Contains(sealed, secret) || bytes.Contains(sealed, []byte("very-secret")) {
		t.Fatal("the sealed value shows the secret")
	}
	if again := b.Seal(secret); bytes.Equal(again, sealed) {
		t.Error("sealing twice gave the same bytes: the nonce is not fresh")
	}
	got, err := b.Open(sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode(), err)
	}
	// The same state directory gives the same key; another does not.
	same, _ := Load(dir, func(string) string { return "" })
	if got, err := same.Open(sealed); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("reloaded key: %q, %v", got, err)
	}
	other, _ := Load(t.TempDir(), func(string) string { return "" })
	if _, err := other.Open(sealed); err != ErrWrongKey {
		t.Errorf("another key opened it: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed); err != ErrWrongKey {
		t.Errorf("an altered value opened: %v", err)
	}
}

func TestKeyFromEnvironment(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	for _, v := range []string{hex.EncodeToString(key), "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="} {
		b, err := Load(t.TempDir(), func(string) string { return v })
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		ref, _ := New(key)
		if got, err := ref.Open(b.Seal([]byte("x"))); err != nil || string(got) != "x" {
			t.Errorf("%s: the key read is not the key given", v)
		}
	}
	for _, bad := range []string{"short", strings.Repeat("z", 64), "c2hvcnQ="} {
		if _, err := Load(t.TempDir(), func(string) string { return bad }); err == nil || !strings.Contains(err.Error(), EnvName) {
			t.Errorf("%q: error %v, want one naming %s", bad, err, EnvName)
		}
	}
}

func TestConcurrentFirstUseAgrees(t *testing.T) {
	dir := t.TempDir()
	boxes := make([]*Box, 8)
	var wg sync.WaitGroup
	for i := range boxes {
		wg.Go(func() {
			b, err := Load(dir, func(string) string { return "" })
			if err != nil {
				t.Error(err)
			}
			boxes[i] = b
		})
	}
	wg.Wait()
	sealed := boxes[0].Seal([]byte("same"))
	for i, b := range boxes {
		if _, err := b.Open(sealed); err != nil {
			t.Errorf("box %d has another key", i)
		}
	}
}
