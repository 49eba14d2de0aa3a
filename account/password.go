package account

import (
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"

	"uptime/internal/errs"
	"uptime/internal/passhash"
)

// Passwords: at least minPassword characters, and not easy to guess.
const (
	minPassword = 12
	maxPassword = 1024
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

// hashPassword returns the password's Argon2id hash with a new salt.
func hashPassword(password string) (string, error) { return passhash.Hash(password) }

// passwordMatches reports whether the password is the one hashed.
func passwordMatches(hash, password string) (bool, error) { return passhash.Matches(hash, password) }
