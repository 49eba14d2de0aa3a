package account

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"uptime/internal/api"
	"uptime/internal/errs"
)

// recoveryCodes is how many recovery codes a user gets with TOTP; each
// signs in once in place of a code.
const recoveryCodes = 10

// TOTPSetup is a TOTP secret offered to a user, not yet in force.
type TOTPSetup struct {
	// Secret is the key, in base32, to type into an authenticator app.
	Secret string `json:"secret"`
	// URL is the otpauth:// URL a QR code carries.
	URL string `json:"otpauth_url"`
	// QR is the URL as a QR code, a PNG in a data: URL.
	QR string `json:"qr"`
}

// TOTPCode is a code from the authenticator app.
type TOTPCode struct {
	// Code is the six digits the app shows now.
	Code string `json:"code"`
}

// RecoveryCodes are shown once, when TOTP comes into force.
type RecoveryCodes struct {
	// Codes each sign in once in place of a TOTP code.
	Codes []string `json:"recovery_codes"`
}

func (s *Service) registerTOTP(srv *api.Server) {
	own := api.Doc{Role: api.Viewer}
	d := func(summary string, req, resp any) api.Doc {
		x := own
		x.Summary, x.Request, x.Response = summary, req, resp
		return x
	}
	srv.Handle("POST /me/totp", s.handleTOTPSetup, d("Offer a TOTP secret to the signed-in user: in force once confirmed",
		nil, TOTPSetup{}))
	srv.Handle("POST /me/totp/confirm", s.handleTOTPConfirm, d("Put TOTP in force with a code from the app: answers the recovery codes, shown once",
		TOTPCode{}, RecoveryCodes{}))
	srv.Handle("DELETE /me/totp", s.handleTOTPRemove, d("Stop asking the signed-in user for a TOTP code, given a current code",
		TOTPCode{}, nil))
}

// sessionUser is the signed-in user of a request: TOTP is their own, not
// a token's.
func sessionUser(r *http.Request) (int64, error) {
	c := api.Caller(r.Context())
	if !c.Session {
		return 0, errs.Errorf(errs.PermissionDenied, "two-factor sign-in is set up by the user, signed in to the dashboard, not with a token or key")
	}
	return c.UserID, nil
}

// userAndCode reads a request of the signed-in user giving a code.
func userAndCode(r *http.Request) (int64, TOTPCode, error) {
	id, err := sessionUser(r)
	if err != nil {
		return 0, TOTPCode{}, err
	}
	p, _, err := api.DecodeFields[TOTPCode](r, "a code", []string{"code"})
	return id, p, err
}

func (s *Service) handleTOTPSetup(r *http.Request) (any, error) {
	id, err := sessionUser(r)
	if err != nil {
		return nil, err
	}
	u, err := s.User(r.Context(), id)
	if err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Uptime", AccountName: u.Email})
	if err != nil {
		return nil, err
	}
	sealed, err := s.seal(key.Secret())
	if err != nil {
		return nil, err
	}
	tag, err := s.db.Exec(r.Context(), "UPDATE users SET totp_pending = $2 WHERE id = $1", id, sealed)
	if err != nil {
		return nil, fmt.Errorf("offer TOTP: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil, errs.Errorf(errs.NotFound, "no user has the id %d", id)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return &TOTPSetup{Secret: key.Secret(), URL: key.URL(), QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

func (s *Service) handleTOTPConfirm(r *http.Request) (any, error) {
	id, p, err := userAndCode(r)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.Begin(r.Context())
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(r.Context())
	var pending []byte
	if err := tx.QueryRow(r.Context(), "SELECT totp_pending FROM users WHERE id = $1 FOR UPDATE", id).Scan(&pending); err != nil {
		return nil, fmt.Errorf("confirm TOTP: %w", err)
	}
	if pending == nil {
		return nil, errs.Errorf(errs.FailedPrecondition, "no TOTP secret is waiting: POST /me/totp first")
	}
	secret, err := s.unseal(pending)
	if err != nil {
		return nil, err
	}
	if !validCode(p.Code, secret, s.now()) {
		return nil, errs.Errorf(errs.InvalidArgument, "code: %q is not the code the app shows now for this secret", p.Code)
	}
	codes := make([]string, recoveryCodes)
	if _, err := tx.Exec(r.Context(), "DELETE FROM recovery_code WHERE user_id = $1", id); err != nil {
		return nil, err
	}
	for i := range codes {
		codes[i] = recoveryCode()
		if _, err := tx.Exec(r.Context(), "INSERT INTO recovery_code (user_id, hash) VALUES ($1, $2)", id, recoveryHash(codes[i])); err != nil {
			return nil, fmt.Errorf("keep recovery codes: %w", err)
		}
	}
	if _, err := tx.Exec(r.Context(), "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL WHERE id = $1", id); err != nil {
		return nil, fmt.Errorf("confirm TOTP: %w", err)
	}
	if err := tx.Commit(r.Context()); err != nil {
		return nil, fmt.Errorf("confirm TOTP: %w", err)
	}
	return &RecoveryCodes{Codes: codes}, nil
}

func (s *Service) handleTOTPRemove(r *http.Request) (any, error) {
	id, p, err := userAndCode(r)
	if err != nil {
		return nil, err
	}
	ok, err := s.secondFactor(r.Context(), id, p.Code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.Errorf(errs.InvalidArgument, "code: not the code the app shows now, nor an unused recovery code")
	}
	if _, err := s.db.Exec(r.Context(), "UPDATE users SET totp_secret = NULL, totp_pending = NULL WHERE id = $1", id); err != nil {
		return nil, fmt.Errorf("remove TOTP: %w", err)
	}
	if _, err := s.db.Exec(r.Context(), "DELETE FROM recovery_code WHERE user_id = $1", id); err != nil {
		return nil, fmt.Errorf("remove TOTP: %w", err)
	}
	return nil, nil
}

// secondFactor checks a code for a user with TOTP in force: the app's
// code now (a step either side allowed for clocks that drift), or an
// unused recovery code, which is then used up.
func (s *Service) secondFactor(ctx context.Context, userID int64, code string) (bool, error) {
	var sealed []byte
	if err := s.db.QueryRow(ctx, "SELECT totp_secret FROM users WHERE id = $1", userID).Scan(&sealed); err != nil {
		return false, fmt.Errorf("read TOTP: %w", err)
	}
	if sealed == nil {
		return true, nil
	}
	secret, err := s.unseal(sealed)
	if err != nil {
		return false, err
	}
	code = strings.TrimSpace(code)
	if validCode(code, secret, s.now()) {
		return true, nil
	}
	tag, err := s.db.Exec(ctx, "UPDATE recovery_code SET used_at = now() WHERE user_id = $1 AND hash = $2 AND used_at IS NULL",
		userID, recoveryHash(code))
	if err != nil {
		return false, fmt.Errorf("use a recovery code: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// hasTOTP reports whether the user must give a code to sign in.
func (s *Service) hasTOTP(ctx context.Context, userID int64) (bool, error) {
	var on bool
	err := s.db.QueryRow(ctx, "SELECT totp_secret IS NOT NULL FROM users WHERE id = $1", userID).Scan(&on)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return on, err
}

func validCode(code, secret string, now time.Time) bool {
	ok, err := totp.ValidateCustom(strings.TrimSpace(code), secret, now, totp.ValidateOpts{
		Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return err == nil && ok
}

// recoveryCode is ten random letters and digits, in two groups of five.
func recoveryCode() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789" // 32: no bias, none alike
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:5]) + "-" + string(b[5:])
}

// recoveryHash is a recovery code's SHA-256, however it is typed.
func recoveryHash(code string) []byte {
	code = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	sum := sha256.Sum256([]byte(code))
	return sum[:]
}

// seal seals a TOTP secret with the secret key.
func (s *Service) seal(secret string) ([]byte, error) {
	if s.box == nil {
		return nil, errors.New("two-factor sign-in needs the secret key, which this process was not given")
	}
	return s.box.Seal([]byte(secret)), nil
}

// unseal opens a sealed TOTP secret.
func (s *Service) unseal(sealed []byte) (string, error) {
	if s.box == nil {
		return "", errors.New("two-factor sign-in needs the secret key, which this process was not given")
	}
	b, err := s.box.Open(sealed)
	if err != nil {
		return "", fmt.Errorf("open a TOTP secret: %w", err)
	}
	return string(b), nil
}
