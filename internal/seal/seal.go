// Package seal encrypts secrets kept in a database (channel URLs and
// webhook secrets, sites' credentials) with AES-256-GCM, under a key that
// is never stored beside them: UPTIME_SECRET_KEY, or a key generated into
// the state directory, readable by its owner only.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvName is the environment variable that gives the key.
const EnvName = "UPTIME_SECRET_KEY"

// FileName is the key's file in the state directory.
const FileName = "secret.key"

// Box seals and opens values under one key.
type Box struct {
	aead cipher.AEAD
	// mac is the key of Digest, derived from the sealing key so that
	// neither tells anything of the other.
	mac []byte
	// Source says where the key came from, for messages.
	Source string
}

// Load returns the box of the key in the environment (32 bytes, base64 or
// hex), else of the key file in stateDir, generated there on first use.
func Load(stateDir string, getenv func(string) string) (*Box, error) {
	if v := strings.TrimSpace(getenv(EnvName)); v != "" {
		key, err := decodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvName, err)
		}
		return newBox(key, EnvName)
	}
	path := filepath.Join(stateDir, FileName)
	key, err := readOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	return newBox(key, path)
}

// New returns the box of a 32-byte key.
func New(key []byte) (*Box, error) { return newBox(key, "a key given") }

// Ephemeral returns the box of a new random key that no other process
// holds: what it seals is lost with it. Services use it where none was
// given, as tests do not give one.
func Ephemeral() *Box {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	b, err := newBox(key, "a key of this process alone")
	if err != nil {
		panic(err)
	}
	return b
}

func newBox(key []byte, source string) (*Box, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("uptime digest key"))
	return &Box{aead: aead, mac: mac.Sum(nil), Source: source}, nil
}

// decodeKey reads 32 bytes written as base64 (standard or URL, padded or
// not) or as 64 hex digits.
func decodeKey(s string) ([]byte, error) {
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("must be 32 bytes in base64 or 64 hex digits (try: openssl rand -base64 32)")
}

// readOrCreate reads the key file, or makes it with a new random key. Two
// processes making it at once agree: the file is created exclusively, and
// the loser reads the winner's.
func readOrCreate(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return decodeKey(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// A hard link fails if the file exists: never replace a key in use.
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return readOrCreate(path)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}

// Seal encrypts plain; the result holds its nonce.
func (b *Box) Seal(plain []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return b.aead.Seal(nonce, nonce, plain, nil)
}

// ErrWrongKey is returned for a value sealed under another key, or altered.
var ErrWrongKey = errors.New("the value was sealed with another key, or altered")

// Open decrypts a sealed value.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n+b.aead.Overhead() {
		return nil, ErrWrongKey
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, ErrWrongKey
	}
	return plain, nil
}

// Digest returns a keyed hash of data (HMAC-SHA-256 under a key derived
// from the box's), as 32 hex digits: equal for equal data under one key,
// so that a sealed value can be found or kept unique by it, and, unlike a
// plain hash, no help to whoever holds a copy of the database in guessing
// what it hides.
func (b *Box) Digest(data []byte) string {
	mac := hmac.New(sha256.New, b.mac)
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// probeText is what a database holding sealed values keeps sealed as its
// key probe, so that an instance can tell whether its key opens them
// before it seals or opens anything.
const probeText = "uptime sealing key"

// Probe returns a new key probe: probeText sealed with the box's key.
func (b *Box) Probe() []byte { return b.Seal([]byte(probeText)) }

// CheckProbe returns nil if the box opens probe, a key probe that a
// database holds; otherwise an error saying that what holds names were
// sealed with another key, and how to give this instance the right one.
func (b *Box) CheckProbe(probe []byte, what string) error {
	if plain, err := b.Open(probe); err == nil && string(plain) == probeText {
		return nil
	}
	return fmt.Errorf("%s were sealed with another secret key than %s: "+
		"give every instance the same key in %s (the first instance's is in its state directory, %s)",
		what, b.Source, EnvName, FileName)
}
