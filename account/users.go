package account

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
	"uptime/internal/dbutil"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// User is a person who may sign in.
type User struct {
	// ID identifies the user.
	ID int64 `json:"id"`
	// Email is the address they sign in with.
	Email string `json:"email"`
	// Name is what they are called; it may be empty.
	Name string `json:"name"`
	// Role is admin, editor or viewer.
	Role string `json:"role"`
	// CreatedAt is when the user was added.
	CreatedAt time.Time `json:"created_at"`
	// LastSeenAt is when they last signed in or used a token, if ever.
	LastSeenAt *time.Time `json:"last_seen_at"`
	// Disabled users cannot sign in, and their tokens are refused.
	Disabled bool `json:"disabled"`
	// HasPassword is whether they may sign in with a password.
	HasPassword bool `json:"has_password"`
	// TOTP is whether signing in with a password also needs a code from
	// their authenticator app.
	TOTP bool `json:"totp"`
}

// UserParams are the fields of a user to add (email and role required) or
// to change (those given).
type UserParams struct {
	// Email is the address they sign in with, unique among users.
	Email *string `json:"email"`
	// Name is what they are called.
	Name *string `json:"name"`
	// Role is admin, editor or viewer.
	Role *string `json:"role"`
	// Password is at least 12 characters and not easy to guess; it is
	// stored as its Argon2id hash, never returned.
	Password *string `json:"password"`
	// Disabled stops them signing in and their tokens working.
	Disabled *bool `json:"disabled"`
	// TOTP false stops asking them for a code (they lost their app and
	// their recovery codes); they set it up again themselves.
	TOTP *bool `json:"totp"`
}

// UserList is the answer of GET /user.
type UserList struct {
	// Users are every user, by email.
	Users []User `json:"users"`
}

var userFields = []string{"email", "name", "role", "password", "disabled", "totp"}

func decodeUser(r *http.Request) (UserParams, error) {
	p, _, err := api.DecodeFields[UserParams](r, "a user", userFields)
	return p, err
}

const userColumns = "id, email, name, role, created_at, last_seen_at, disabled, password_hash IS NOT NULL, totp_secret IS NOT NULL"

func scanUser(row pgx.Row) (*User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.CreatedAt, &u.LastSeenAt, &u.Disabled, &u.HasPassword, &u.TOTP)
	return &u, err
}

// check validates the fields given. Adding needs email and role.
func (p UserParams) check(adding bool) error {
	if adding && p.Email == nil {
		return errs.Errorf(errs.InvalidArgument, "email is required")
	}
	if adding && p.Role == nil {
		return errs.Errorf(errs.InvalidArgument, "role is required: admin, editor or viewer")
	}
	if p.Email != nil {
		a, err := mail.ParseAddress(*p.Email)
		if err != nil || a.Address != strings.TrimSpace(*p.Email) || a.Name != "" {
			return errs.Errorf(errs.InvalidArgument, "email %s is not an address like alice@example.com", text.Quote(*p.Email))
		}
		if len(*p.Email) > 254 {
			return errs.Errorf(errs.InvalidArgument, "email is at most 254 characters")
		}
	}
	if p.Name != nil {
		if err := api.CheckText("name", *p.Name, 0, 200, false); err != nil {
			return err
		}
	}
	if p.TOTP != nil && *p.TOTP {
		return errs.Errorf(errs.InvalidArgument, "totp can only be turned off here; a user sets it up signed in (POST /me/totp)")
	}
	if adding && p.TOTP != nil {
		return errs.Errorf(errs.InvalidArgument, "totp is set up by the user, signed in, not when they are added")
	}
	if p.Role != nil {
		if _, err := api.ParseRole(*p.Role); err != nil {
			return errs.Errorf(errs.InvalidArgument, "%v", err)
		}
	}
	if p.Password != nil {
		var inputs []string
		if p.Email != nil {
			inputs = append(inputs, *p.Email)
		}
		if p.Name != nil {
			inputs = append(inputs, *p.Name)
		}
		if err := checkPassword(*p.Password, inputs...); err != nil {
			return err
		}
	}
	return nil
}

// passwordHash is the hash of the password given, or nil for none.
func (p UserParams) passwordHash() (*string, error) {
	if p.Password == nil {
		return nil, nil
	}
	h, err := hashPassword(*p.Password)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// AddUser adds a user. Without a password, they can sign in only through
// an identity provider.
func (s *Service) AddUser(ctx context.Context, p UserParams) (*User, error) {
	if err := p.check(true); err != nil {
		return nil, err
	}
	hash, err := p.passwordHash()
	if err != nil {
		return nil, err
	}
	u, err := scanUser(s.db.QueryRow(ctx, `INSERT INTO users (email, name, role, password_hash, disabled)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+userColumns,
		strings.TrimSpace(*p.Email), deref(p.Name), *p.Role, hash, p.Disabled != nil && *p.Disabled))
	if dbutil.Duplicate(err) {
		return nil, errs.Errorf(errs.AlreadyExists, "a user already has the email %s", text.Quote(*p.Email))
	}
	if err != nil {
		return nil, fmt.Errorf("add user: %w", err)
	}
	s.usersChanged(true)
	return u, nil
}

// EnsureAdmin makes an admin with the email and password unless a user
// has the email (whatever their role or password now: they are theirs to
// change). It reports whether it made one. Several instances starting at
// once make one between them.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (bool, error) {
	if _, err := s.UserByEmail(ctx, email); err == nil {
		return false, nil
	} else if !errs.Is(err, errs.NotFound) {
		return false, err
	}
	if password == "" {
		return false, errs.Errorf(errs.InvalidArgument, "no user has the email %s, and no password for them was given: set UPTIME_ADMIN_PASSWORD", email)
	}
	role := "admin"
	_, err := s.AddUser(ctx, UserParams{Email: &email, Role: &role, Password: &password})
	if errs.Is(err, errs.AlreadyExists) {
		return false, nil
	}
	return err == nil, err
}

// Users returns every user, by email.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, "SELECT "+userColumns+" FROM users ORDER BY lower(email)")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) {
		u, err := scanUser(row)
		return *u, err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// User returns the user with the id.
func (s *Service) User(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.Errorf(errs.NotFound, "no user has the id %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %d: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns the user with the address, however capitalised.
func (s *Service) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE lower(email) = lower($1)", strings.TrimSpace(email)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.Errorf(errs.NotFound, "no user has the email %s", text.Quote(email))
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

// UpdateUser changes the fields given. The last admin who may sign in
// stays one: they cannot be demoted, disabled or deleted while no other
// admin is enabled.
func (s *Service) UpdateUser(ctx context.Context, id int64, p UserParams) (*User, error) {
	if err := p.check(false); err != nil {
		return nil, err
	}
	hash, err := p.passwordHash()
	if err != nil {
		return nil, err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("update user %d: %w", id, err)
	}
	defer tx.Rollback(ctx)
	before, err := scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1 FOR UPDATE", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.Errorf(errs.NotFound, "no user has the id %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("update user %d: %w", id, err)
	}
	losesAdmin := (p.Role != nil && *p.Role != "admin") || (p.Disabled != nil && *p.Disabled)
	if losesAdmin && before.Role == "admin" && !before.Disabled {
		if err := lastAdmin(ctx, tx, id, "demoted or disabled"); err != nil {
			return nil, err
		}
	}
	if p.TOTP != nil {
		if _, err := tx.Exec(ctx, "DELETE FROM recovery_code WHERE user_id = $1", id); err != nil {
			return nil, fmt.Errorf("update user %d: %w", id, err)
		}
	}
	u, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET email = coalesce($2, email), name = coalesce($3, name),
		role = coalesce($4, role), password_hash = coalesce($5, password_hash), disabled = coalesce($6, disabled),
		totp_secret = CASE WHEN $7 THEN NULL ELSE totp_secret END, totp_pending = CASE WHEN $7 THEN NULL ELSE totp_pending END
		WHERE id = $1 RETURNING `+userColumns, id, trimmed(p.Email), p.Name, p.Role, hash, p.Disabled, p.TOTP != nil))
	if dbutil.Duplicate(err) {
		return nil, errs.Errorf(errs.AlreadyExists, "a user already has the email %s", text.Quote(*p.Email))
	}
	if err != nil {
		return nil, fmt.Errorf("update user %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("update user %d: %w", id, err)
	}
	s.tokens.forgetAll()
	return u, nil
}

// DeleteUser deletes a user and their tokens.
func (s *Service) DeleteUser(ctx context.Context, id int64) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	defer tx.Rollback(ctx)
	u, err := scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1 FOR UPDATE", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.Errorf(errs.NotFound, "no user has the id %d", id)
	}
	if err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	if u.Role == "admin" && !u.Disabled {
		if err := lastAdmin(ctx, tx, id, "deleted"); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	s.tokens.forgetAll()
	s.usersChanged(false)
	return nil
}

// lastAdmin refuses a change that would leave no enabled admin. The
// admins are locked, so that two such changes at once cannot both pass.
func lastAdmin(ctx context.Context, tx pgx.Tx, id int64, what string) error {
	rows, err := tx.Query(ctx, "SELECT id FROM users WHERE role = 'admin' AND NOT disabled AND id <> $1 FOR UPDATE", id)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	others, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if len(others) == 0 {
		return errs.Errorf(errs.FailedPrecondition, "the last admin cannot be %s: make another user admin first", what)
	}
	return nil
}

// HasUsers reports whether any user exists, as read within the last
// half second; while the database does not answer, what was read last.
func (s *Service) HasUsers(ctx context.Context) (bool, error) {
	u := &s.users
	u.Lock()
	if u.known && (s.now().Sub(u.readAt) < fresh || u.reading) {
		defer u.Unlock()
		return u.any, nil
	}
	u.reading = true
	u.Unlock()
	var any bool
	err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&any)
	u.Lock()
	defer u.Unlock()
	u.reading = false
	if err != nil {
		if u.known {
			return u.any, nil
		}
		return false, fmt.Errorf("read whether users exist: %w", err)
	}
	u.known, u.any, u.readAt = true, any, s.now()
	return any, nil
}

// usersChanged notes a user added (some exist) or deleted (read again).
func (s *Service) usersChanged(added bool) {
	s.users.Lock()
	defer s.users.Unlock()
	if added {
		s.users.known, s.users.any, s.users.readAt = true, true, s.now()
	} else {
		s.users.known = false
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func trimmed(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	return &t
}
