package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"golang.org/x/term"

	"uptime/internal/secrets"
	"uptime/slack"
)

// secret runs `uptime secret set <Name>`. The value comes from the terminal
// without echo, or from standard input when that is not a terminal.
func secret(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "set" {
		return errors.New("usage: uptime secret set <Name>")
	}
	cfg, rest, err := parse("secret set", args[1:], stderr)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: uptime secret set <Name>, as in: uptime secret set SlackWebhookURL")
	}
	name := rest[0]
	value, err := readSecret(name, stdin, stderr)
	if err != nil {
		return err
	}
	if value == "" {
		return errors.New("no value given; nothing was stored")
	}
	if name == slack.SecretName {
		if u, err := url.Parse(value); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("SlackWebhookURL must be a webhook URL, like https://hooks.slack.com/services/...; nothing was stored")
		}
	}
	if err := secrets.NewStore(cfg.StateDir, os.Getenv).Set(name, value); err != nil {
		return fmt.Errorf("store secret: %w", err)
	}
	fmt.Fprintf(stdout, "Stored %s for the local app.\n", name)
	if os.Getenv(secrets.EnvName(name)) != "" {
		fmt.Fprintf(stderr, "note: %s is set in the environment and overrides the stored value\n", secrets.EnvName(name))
	}
	return nil
}

func readSecret(name string, stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Enter the value of %s: ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return strings.TrimSpace(string(b)), err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}
