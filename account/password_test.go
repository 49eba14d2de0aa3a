package account

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	hash, err := hashPassword("blue-kettle-orbit")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, "kettle") {
		t.Fatalf("hash %q: want argon2id in the PHC format, and not the password", hash)
	}
	again, _ := hashPassword("blue-kettle-orbit")
	if again == hash {
		t.Errorf("two hashes of one password are the same: the salt is not new")
	}
	for _, tt := range []struct {
		password string
		want     bool
	}{{"blue-kettle-orbit", true}, {"blue-kettle-orbiT", false}, {"", false}, {"blue-kettle-orbit ", false}} {
		got, err := passwordMatches(hash, tt.password)
		if err != nil || got != tt.want {
			t.Errorf("passwordMatches(%q) = %v, %v; want %v", tt.password, got, err, tt.want)
		}
	}
	if _, err := passwordMatches("$2a$10$bcrypt", "x"); err == nil {
		t.Errorf("a hash of another kind matched without an error")
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tt := range []struct {
		name, password string
		inputs         []string
		says           string
	}{
		{"good", "blue-kettle-orbit", nil, ""},
		{"unrelated words", "correct horse battery staple", nil, ""},
		{"too short", "kx8#Lq2m!vZ", nil, "at least 12"},
		{"twelve of one", "aaaaaaaaaaaa", nil, "too easy"},
		{"common with digits", "password1234", nil, "too easy"},
		{"keyboard", "qwertyuiop12", nil, "too easy"},
		{"digits", "123456789012", nil, "too easy"},
		{"own address", "alice.liddell1", []string{"alice.liddell@example.com"}, "too easy"},
		{"too long", strings.Repeat("kx8#Lq2m!vZp", 100), nil, "at most 1024"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPassword(tt.password, tt.inputs...)
			if tt.says == "" && err != nil || tt.says != "" && (err == nil || !strings.Contains(err.Error(), tt.says)) {
				t.Errorf("checkPassword(%q) = %v, want %q", tt.password, err, tt.says)
			}
		})
	}
}
