package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/crypto/argon2"

	"uptime/internal/errs"
)

// Passwords: at least minPassword characters, and not easy to guess.
const (
	minPassword = 12
	maxPassword = 1024
)

// Argon2id's cost, OWASP's first choice: 19 MiB, two passes, one lane.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// checkPassword refuses a password too short, too long, or easy to guess:
// a common one (zxcvbn's list of them), a word with digits, a keyboard
// pattern, a repetition, or one made of the user's own address or name.
func checkPassword(password string, userInputs ...string) error {
	n := utf8.RuneCountInString(password)
	if n < minPassword {
		return errs.Errorf(errs.InvalidArgument, "password must have at least %d characters, got %d", minPassword, n)
	}
	if n > maxPassword {
		return errs.Errorf(errs.InvalidArgument, "password must have at most %d characters, got %d", maxPassword, n)
	}
	var inputs []string
	for _, in := range userInputs {
		in = strings.ToLower(in)
		local, _, _ := strings.Cut(in, "@")
		inputs = append(inputs, in, local)
		inputs = append(inputs, strings.FieldsFunc(in, func(r rune) bool {
			return r == '@' || r == '.' || r == ' ' || r == '-' || r == '_'
		})...)
	}
	inputs = append(inputs, "uptime", "monitor", "admin")
	if zxcvbn.PasswordStrength(password, inputs).Score < 3 {
		return errs.Errorf(errs.InvalidArgument, "password is too easy to guess (a common password, a word with "+
			"digits, a keyboard pattern or the user's own name); a few unrelated words make a good one")
	}
	return nil
}

// hashPassword returns the password's Argon2id hash with a new salt, in
// the PHC string format.
func hashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// passwordMatches reports whether the password is the one hashed, with the
// cost the hash was made with.
func passwordMatches(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("argon2id version %q", parts[2])
	}
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil {
		return false, fmt.Errorf("argon2id parameters %q: %w", parts[3], err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("argon2id salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("argon2id key: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
