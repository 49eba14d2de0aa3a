package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"uptime/account"
	"uptime/internal/api"
	"uptime/internal/app"
	"uptime/internal/config"
)

const userUsage = "usage: uptime user add EMAIL --role admin|editor|viewer [--name NAME] | uptime user list | " +
	"uptime user passwd EMAIL | uptime user disable EMAIL | uptime user enable EMAIL | uptime user reset-totp EMAIL"

// user runs `uptime user add|list|passwd|disable|enable`, on the account
// database directly: the first admin is made before the server listens,
// and a running server sees a change within a second.
func user(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	sub := args[0]
	var role, name string
	cfg, rest, err := parseWith("user "+sub, args[1:], stderr, func(fs *flag.FlagSet) {
		if sub == "add" {
			fs.StringVar(&role, "role", "", "the user's role: admin, editor or viewer")
			fs.StringVar(&name, "name", "", "what the user is called")
		}
	})
	if err != nil {
		return err
	}
	want := 1
	if sub == "list" {
		want = 0
	}
	switch sub {
	case "add", "list", "passwd", "disable", "enable", "reset-totp":
	default:
		return errors.New(userUsage)
	}
	if len(rest) != want {
		return errors.New(userUsage)
	}
	if sub == "add" && role == "" {
		return errors.New("uptime user add: --role is required: admin, editor or viewer")
	}

	accounts, done, err := openAccounts(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()

	switch sub {
	case "list":
		users, err := accounts.Users(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tEMAIL\tNAME\tROLE\tLAST SEEN\tDISABLED")
		for _, u := range users {
			seen := "never"
			if u.LastSeenAt != nil {
				seen = u.LastSeenAt.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%v\n", u.ID, u.Email, u.Name, u.Role, seen, u.Disabled)
		}
		return w.Flush()
	case "add":
		password, err := readPassword(rest[0], stdin, stderr)
		if err != nil {
			return err
		}
		u, err := accounts.AddUser(ctx, account.UserParams{Email: &rest[0], Name: &name, Role: &role, Password: &password})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Added %s (%s), user %d.\n", u.Email, u.Role, u.ID)
		return nil
	}
	u, err := accounts.UserByEmail(ctx, rest[0])
	if err != nil {
		return err
	}
	var p account.UserParams
	switch sub {
	case "passwd":
		password, err := readPassword(u.Email, stdin, stderr)
		if err != nil {
			return err
		}
		p.Password = &password
	case "disable", "enable":
		disabled := sub == "disable"
		p.Disabled = &disabled
	case "reset-totp":
		off := false
		p.TOTP = &off
	}
	if _, err := accounts.UpdateUser(ctx, u.ID, p); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s.\n", u.Email, map[string]string{"passwd": "password changed", "disable": "disabled",
		"enable": "enabled", "reset-totp": "two-factor sign-in turned off"}[sub])
	return nil
}

// openAccounts opens the account service on the configuration's
// database, making it if it is missing, as `uptime run` would; done closes
// it (and stops a local cluster it started).
func openAccounts(ctx context.Context, cfg config.Config) (*account.Service, func(), error) {
	pool, done, err := openService(ctx, cfg, app.AccountDatabase)
	if err != nil {
		return nil, nil, err
	}
	return account.New(pool, newLogger(cfg, io.Discard)), done, nil
}

const tokenUsage = "usage: uptime token add EMAIL --name NAME --role admin|editor|viewer [--expires-in 90d] | " +
	"uptime token list | uptime token revoke ID"

// token runs `uptime token add|list|revoke`, on the account database: a
// token for a user, printed alone on standard output, for scripts and
// for a first admin who has no other way in.
func token(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(tokenUsage)
	}
	sub := args[0]
	var name, role, expiresIn string
	cfg, rest, err := parseWith("token "+sub, args[1:], stderr, func(fs *flag.FlagSet) {
		if sub == "add" {
			fs.StringVar(&name, "name", "", "what the token is for")
			fs.StringVar(&role, "role", "", "the token's role: admin, editor or viewer, at most its owner's")
			fs.StringVar(&expiresIn, "expires-in", "", "how long it works, such as 90d; unset: until revoked")
		}
	})
	if err != nil {
		return err
	}
	want := map[string]int{"add": 1, "list": 0, "revoke": 1}
	if n, ok := want[sub]; !ok || len(rest) != n {
		return errors.New(tokenUsage)
	}
	accounts, done, err := openAccounts(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "add":
		u, err := accounts.UserByEmail(ctx, rest[0])
		if err != nil {
			return err
		}
		p := account.TokenParams{Name: name, Role: role, Owner: &u.ID}
		if expiresIn != "" {
			p.ExpiresIn = &expiresIn
		}
		t, err := accounts.AddToken(ctx, api.Principal{Role: api.Admin, Name: "uptime token add"}, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "Token %d (%s, %s) for %s; it is shown this once:\n", t.ID, t.Name, t.Role, u.Email)
		fmt.Fprintln(stdout, t.Token)
		return nil
	case "revoke":
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil {
			return fmt.Errorf("uptime token revoke: %q is not a token's id (uptime token list shows them)", rest[0])
		}
		if err := accounts.RevokeToken(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked token %d.\n", id)
		return nil
	}
	tokens, err := accounts.Tokens(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tROLE\tOWNER\tLAST USED\tEXPIRES")
	for _, t := range tokens {
		used, expires := "never", "never"
		if t.LastUsedAt != nil {
			used = t.LastUsedAt.Local().Format("2006-01-02 15:04")
		}
		if t.ExpiresAt != nil {
			expires = t.ExpiresAt.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.Owner, used, expires)
	}
	return w.Flush()
}

// readPassword reads a new password: twice from a terminal, without echo,
// or one line of standard input.
func readPassword(email string, stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s (at least 12 characters): ", email)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "The same again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(first) != string(again) {
			return "", errors.New("the passwords differ; nothing was changed")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password given on standard input; nothing was changed")
	}
	return line, nil
}
