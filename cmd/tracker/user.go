package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/projections"
)

const userUsage = `Users log in to the web pages, and their phones log in to the broker (or
HTTP mode) with the same name and password. As soon as one user exists,
everything needs a login.

  tracker user add NAME [--admin] [--password-stdin]
  tracker user passwd NAME [--password-stdin]
  tracker user remove NAME
  tracker user share NAME --sees alice,bob | --sees all
  tracker user role NAME --to admin|viewer
  tracker user list

Passwords are read from the terminal (not echoed), or from the first line of
standard input with --password-stdin. Only bcrypt hashes are stored: each
change is an event in the log, with its own command id, time and issuer, so
a repeated command always applies; the answer is the user as now defined.
The last admin cannot be removed, made a viewer or re-added without --admin.
A role change keeps the user's password and sessions. While a
server runs on --data, the command goes through its API (log in with
--login NAME; the password is asked for, or taken from
TRACKER_LOGIN_PASSWORD).`

type userConfig struct {
	target
	admin         bool
	passwordStdin bool
	sees          string
	role          string
	login         string
}

func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runUserWith(ctx, args, os.Stdin, stdout, stderr)
}

func runUserWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, userUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	var cfg userConfig
	fs := newFlagSet("user "+sub, userUsage, stderr)
	cfg.target.flags(fs, "data `directory`", serverUsage)
	fs.StringVar(&cfg.login, "login", "", "admin `name` to log in as when going through a running server")
	switch sub {
	case "add":
		fs.BoolVar(&cfg.admin, "admin", false, "may see the event log, rebuild, manage users and send commands")
		fs.BoolVar(&cfg.passwordStdin, "password-stdin", false, "read the password from standard input")
	case "passwd":
		fs.BoolVar(&cfg.passwordStdin, "password-stdin", false, "read the password from standard input")
	case "share":
		fs.StringVar(&cfg.sees, "sees", "", "comma-separated `users` whose phones NAME sees, or all")
	case "role":
		fs.StringVar(&cfg.role, "to", "", "the new `role`: admin or viewer")
	case "remove", "list":
	default:
		return fmt.Errorf("user: unknown subcommand %q (want add, passwd, remove, share, role or list)", sub)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	in := bufio.NewReader(stdin)
	if sub == "list" {
		return listUsers(ctx, cfg, in, stdout, stderr)
	}
	if err := projections.ValidUserName(name); err != nil {
		return fmt.Errorf("user %s: %w", sub, err)
	}
	cmd := projections.UserCommand{Type: "user", Action: sub, Name: name, Admin: cfg.admin}
	switch sub {
	case "add", "passwd":
		pw, err := readPassword(in, stdin, cfg.passwordStdin, stderr, "Password for "+name+": ")
		if err != nil {
			return err
		}
		if cmd.Hash, err = projections.HashPassword(pw); err != nil {
			return err
		}
	case "role":
		switch cfg.role {
		case "admin", "viewer":
			cmd.Admin = cfg.role == "admin"
		default:
			return fmt.Errorf("user role: say the new role with --to admin or --to viewer")
		}
	case "share":
		switch cfg.sees {
		case "":
			return errors.New("user share: say whom NAME sees with --sees alice,bob (or --sees all)")
		case "all":
			cmd.Everyone = true
		default:
			for _, u := range strings.Split(cfg.sees, ",") {
				if u = strings.TrimSpace(u); u != "" {
					cmd.Sees = append(cmd.Sees, u)
				}
			}
		}
	}
	if err := cmd.Validate(); err != nil {
		return err
	}
	log, api, err := cfg.reach(false, badgerlog.Options{}, "going", cfg.loginFunc(in, stdin, stderr), stderr)
	if errors.Is(err, errNoLog) {
		log, err = cfg.openLog(true, badgerlog.Options{})
	}
	if err != nil {
		return err
	}
	if api != nil {
		return userThroughServer(ctx, api, cmd, stdout)
	}
	defer log.Close()
	cmd.Issue = projections.NewIssue(projections.CLIIssuer(), time.Now())
	res, err := userOffline(ctx, cfg.target, log, cmd)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.describe(cmd.Action))
	return nil
}

// userOffline checks c against the users in the log (the user must exist
// unless added; the last admin stays), records it and returns the user as
// the log now defines it.
func userOffline(ctx context.Context, t target, log *badgerlog.Log, c projections.UserCommand) (userResult, error) {
	p, err := t.projections(ctx, log)
	if err != nil {
		return userResult{}, err
	}
	defer p.Close()
	if _, ok := p.User(c.Name); !ok && c.Action != projections.UserAdd {
		return userResult{}, fmt.Errorf("no user %q (tracker user list shows them)", c.Name)
	}
	if err := projections.CheckLastAdmin(p.Users(), c); err != nil {
		return userResult{}, err
	}
	seq, err := appendUser(ctx, log, c)
	if err != nil {
		return userResult{}, err
	}
	if err := p.CatchUp(ctx); err != nil {
		return userResult{}, err
	}
	res := userResult{Seq: seq, CommandID: c.ID, Name: c.Name}
	if u, ok := p.User(c.Name); ok {
		l := lineOf(u)
		res.Exists, res.User = true, &l
	}
	return res, nil
}

// userResult is the outcome of a user command, as the server's API
// answers it: the user now, or Exists false after a removal.
type userResult struct {
	Seq       uint64    `json:"seq"`
	CommandID string    `json:"command_id"`
	Name      string    `json:"name"`
	Exists    bool      `json:"exists"`
	User      *userLine `json:"user,omitempty"`
}

// describe says what the user now is: role and whom they see.
// What happened, by action, in the answer's words.
func (r userResult) describe(action string) string {
	if !r.Exists || r.User == nil {
		return fmt.Sprintf("user %q removed (event %d): they no longer exist", r.Name, r.Seq)
	}
	done := map[string]string{
		projections.UserAdd: "added", projections.UserPasswd: "has a new password", projections.UserShare: "sharing changed",
		projections.UserRole: "role changed",
	}[action]
	if done == "" {
		done = "changed"
	}
	return fmt.Sprintf("user %q %s (event %d): %s", r.Name, done, r.Seq, describeUser(*r.User))
}

// describeUser is a user's role and whom they see, in words.
func describeUser(u userLine) string {
	role := "viewer"
	if u.Admin {
		role = "admin"
	}
	return role + ", sees " + seesText(u)
}

func seesText(u userLine) string {
	switch {
	case u.Admin || !u.Restricted:
		return "everybody"
	case len(u.Sees) == 0:
		return "own phones only"
	}
	return strings.Join(append([]string{"own phones"}, u.Sees...), ", ")
}

func appendUser(ctx context.Context, log events.Appender, c projections.UserCommand) (uint64, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	return log.Append(ctx, events.Event{
		Topic: projections.UserTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now(),
	})
}

// readPassword reads from the terminal without echo, or a line from stdin.
func readPassword(in *bufio.Reader, stdin io.Reader, fromStdin bool, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password given: type it at the prompt or pass it on standard input with --password-stdin")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func listUsers(ctx context.Context, cfg userConfig, in *bufio.Reader, stdout, stderr io.Writer) error {
	var users []userLine
	log, api, err := cfg.reach(false, badgerlog.Options{}, "going", cfg.loginFunc(in, os.Stdin, stderr), stderr)
	switch {
	case err != nil:
		return err
	case api != nil:
		if err := api.call(ctx, http.MethodGet, "/api/v1/users", nil, &users); err != nil {
			return err
		}
	default:
		defer log.Close()
		p, err := cfg.projections(ctx, log)
		if err != nil {
			return err
		}
		defer p.Close()
		for _, u := range p.Users() {
			users = append(users, lineOf(u))
		}
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSEES\tLAST LOGIN")
	for _, u := range users {
		role := "viewer"
		if u.Admin {
			role = "admin"
		}
		last := "never"
		if !u.LastLogin.IsZero() {
			last = u.LastLogin.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, role, seesText(u), last)
	}
	return tw.Flush()
}

// userLine is a user without the hash (what the API lists).
type userLine struct {
	Name       string    `json:"name"`
	Admin      bool      `json:"admin"`
	Restricted bool      `json:"restricted"`
	Sees       []string  `json:"sees,omitempty"`
	LastLogin  time.Time `json:"last_login,omitzero"`
}

func lineOf(u projections.User) userLine {
	return userLine{Name: u.Name, Admin: u.Admin, Restricted: u.Restricted, Sees: u.Sees, LastLogin: u.LastLogin}
}

func userThroughServer(ctx context.Context, api *adminClient, c projections.UserCommand, stdout io.Writer) error {
	var res userResult
	if err := api.call(ctx, http.MethodPost, "/api/v1/users", c, &res); err != nil {
		return err
	}
	if res.Name == "" { // a server from before command results
		return fmt.Errorf("user %s %q: the server recorded it as event %d but did not say the result; check with tracker user list", c.Action, c.Name, res.Seq)
	}
	fmt.Fprintln(stdout, res.describe(c.Action))
	return nil
}

// loginFunc logs in to a running server as --login, with the password
// from TRACKER_LOGIN_PASSWORD or asked for; without --login, as
// TRACKER_LOGIN.
func (c userConfig) loginFunc(in *bufio.Reader, stdin io.Reader, stderr io.Writer) loginFunc {
	if c.login == "" {
		return envLogin
	}
	return func(req *http.Request) error {
		pw, ok := os.LookupEnv("TRACKER_LOGIN_PASSWORD")
		if !ok {
			var err error
			if pw, err = readPassword(in, stdin, false, stderr, "Password for "+c.login+" (on the server): "); err != nil {
				return err
			}
		}
		req.SetBasicAuth(c.login, pw)
		return nil
	}
}
