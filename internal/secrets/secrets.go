// Package secrets keeps secrets as Encore's local development does: set
// once with `uptime secret set <Name>`, stored under the state directory in
// a file only its owner can read, and overridden by the environment
// (SlackWebhookURL by SLACK_WEBHOOK_URL).
package secrets

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// Store is the secrets file of a state directory.
type Store struct {
	path   string
	getenv func(string) string
}

// NewStore returns the store in stateDir, reading the environment through
// getenv.
func NewStore(stateDir string, getenv func(string) string) *Store {
	return &Store{path: filepath.Join(stateDir, "secrets.json"), getenv: getenv}
}

// EnvName is the environment variable that overrides a secret:
// SlackWebhookURL becomes SLACK_WEBHOOK_URL.
func EnvName(name string) string {
	var b strings.Builder
	runes := []rune(name)
	for i, r := range runes {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(runes[i-1]) ||
			i+1 < len(runes) && unicode.IsLower(runes[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// Get returns the secret's value from the environment, else from the file,
// else "".
func (s *Store) Get(name string) (string, error) {
	if v := s.getenv(EnvName(name)); v != "" {
		return v, nil
	}
	all, err := s.read()
	if err != nil {
		return "", err
	}
	return all[name], nil
}

// Set stores a secret. The file is replaced whole, so a crash leaves the
// old one or the new one, and only its owner can read it.
func (s *Store) Set(name, value string) error {
	if name == "" {
		return errors.New("a secret needs a name")
	}
	all, err := s.read()
	if err != nil {
		return err
	}
	all[name] = value
	body, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".secrets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(body, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

func (s *Store) read() (map[string]string, error) {
	all := map[string]string{}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return all, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets: %w", err)
	}
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("read secrets: %s is not valid JSON", s.path)
	}
	return all, nil
}
