package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"tracker/events/badgerlog"
	"tracker/events/owntracks"
	"tracker/projections/projector"
)

// The one way a command reaches the data: it opens the event log of
// --data itself, or, when a running server holds the log (or --server
// names one), goes through that server's API as an admin.

// target is the data a command works on: --data, and --server where the
// command takes it.
type target struct {
	data   dataDir
	server string // base URL of a running server; found in data when it holds the log
}

// flags declares --data, and --server when serverUsage is not empty.
func (t *target) flags(fs *flag.FlagSet, dataUsage, serverUsage string) {
	t.data.flag(fs, dataUsage)
	if serverUsage != "" {
		fs.StringVar(&t.server, "server", "", serverUsage)
	}
}

var errNoLog = errors.New("no event log")

// openLog opens the log of the data directory (creating both when
// create is set: the first user, or an import, may come before the
// server ever ran). A log held by another process is badgerlog.ErrLocked.
func (t target) openLog(create bool, opts badgerlog.Options) (*badgerlog.Log, error) {
	if create {
		if err := t.data.create(); err != nil {
			return nil, err
		}
	} else if !t.data.hasLog() {
		return nil, fmt.Errorf("%w in %s (start one with tracker serve --data %s)", errNoLog, t.data, t.data)
	}
	return badgerlog.Open(t.data.logDir(), opts)
}

// reach opens the log, or returns a client of the server that holds it
// (saying so on stderr: "reading through ..."; doing is the verb). Exactly
// one of the two is set when err is nil; the caller closes the log.
func (t target) reach(create bool, opts badgerlog.Options, doing string, login loginFunc, stderr io.Writer) (*badgerlog.Log, *adminClient, error) {
	if t.server != "" {
		return nil, newAdminClient(t.server, login), nil
	}
	log, err := t.openLog(create, opts)
	if !errors.Is(err, badgerlog.ErrLocked) {
		return log, nil, err
	}
	info, ierr := t.data.readServerInfo()
	if ierr != nil {
		return nil, nil, fmt.Errorf("%w, and no running server is recorded there (%v); pass --server URL", err, ierr)
	}
	fmt.Fprintf(stderr, "tracker: %s is in use by a running server (pid %d); %s through %s\n", t.data, info.PID, doing, info.HTTP)
	return nil, newAdminClient(info.HTTP, login), nil
}

// loginFunc adds an admin's credentials to a request for a running
// server; nil uses TRACKER_LOGIN and TRACKER_LOGIN_PASSWORD.
type loginFunc func(*http.Request) error

// envLogin adds the credentials in TRACKER_LOGIN and
// TRACKER_LOGIN_PASSWORD, for commands that go through a server's API
// once users exist.
func envLogin(req *http.Request) error {
	if name := os.Getenv("TRACKER_LOGIN"); name != "" {
		req.SetBasicAuth(name, os.Getenv("TRACKER_LOGIN_PASSWORD"))
	}
	return nil
}

// adminClient calls a running server's API as an admin.
type adminClient struct {
	base  string
	login loginFunc
}

func newAdminClient(base string, login loginFunc) *adminClient {
	if login == nil {
		login = envLogin
	}
	return &adminClient{base: strings.TrimSuffix(base, "/"), login: login}
}

// apiError is an answer other than 200 or 201.
type apiError struct {
	method, path, status string
	code                 int
	body                 []byte // the start of the answer
}

func (e *apiError) Error() string {
	hint := ""
	switch e.code {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = " (log in as an admin: set TRACKER_LOGIN and TRACKER_LOGIN_PASSWORD, or --login NAME where the command takes it)"
	case http.StatusAccepted:
		hint = " (recorded, not yet applied: check the result again shortly)"
	}
	return fmt.Sprintf("%s %s: %s: %s%s", e.method, e.path, e.status, strings.TrimSpace(string(e.body)), hint)
}

// do sends a request to path (with its query) and returns the answer
// when it is 200 or 201; any other is an *apiError.
func (c *adminClient) do(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("server URL: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if err := c.login(req); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, &apiError{method: method, path: req.URL.Path, status: resp.Status, code: resp.StatusCode, body: b}
}

// call sends in as JSON (none when nil) and decodes the answer into out
// (unless nil).
func (c *adminClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: the answer is not what was expected: %w", method, path, err)
	}
	return nil
}

// projections opens the projections of the data directory and brings
// them up to the end of log, for a command that reads or checks them.
func (t target) projections(ctx context.Context, log *badgerlog.Log) (*projector.Projector, error) {
	if err := t.data.purgeAfterErase(nil); err != nil {
		return nil, err
	}
	p, err := projector.Open(ctx, t.data.projections(), log, owntracks.Decoder{}, nil, projector.Options{})
	if err != nil {
		return nil, err
	}
	if err := p.CatchUp(ctx); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// serverUsage describes --server for commands that go through a running
// server when it holds the log.
const serverUsage = "base `URL` of a running server to go through (default: the one using --data, when it holds the log)"
