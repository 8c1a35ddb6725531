// Package dynamotest runs dynalite, a DynamoDB-compatible server from the
// npm registry, for tests that talk to DynamoDB through the real AWS SDK.
// Import it from _test.go files only.
//
// The binary is $TRACKER_DYNALITE (set by .ci/run), else `dynalite` on
// PATH. Without one a test skips, unless CI is set: CI must never skip.
// Install it locally with
//
//	npm install --prefix .ci/.tools/dynalite --no-audit --no-fund dynalite@4.0.0
//	export TRACKER_DYNALITE=$PWD/.ci/.tools/dynalite/node_modules/.bin/dynalite
package dynamotest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Region and the static credentials every client of a test server uses
// (dynalite checks that requests are signed, not by whom).
const (
	Region    = "us-east-1"
	AccessKey = "AKIDTRACKERTEST"
	SecretKey = "tracker-test-secret"
)

// Server is one dynalite process on a loopback port.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	bin      string
	port     int
	dir      string // --path: data kept on disk over a restart; "" in memory
	cmd      *exec.Cmd
	exited   chan struct{}
	stderr   *lockedWriter
}

// Binary returns the dynalite executable, skipping the test (or failing
// it under CI) when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TRACKER_DYNALITE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("TRACKER_DYNALITE=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("dynalite"); err == nil {
		return p
	}
	msg := "dynalite not found (set TRACKER_DYNALITE or put it on PATH; npm install dynalite@4.0.0)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI must not skip")
	}
	t.Skip(msg)
	return ""
}

// Start runs dynalite on a free loopback port and stops it at cleanup.
// With persistent set its data lives in a directory under t.TempDir(), so
// it survives Stop and Restart; otherwise it is in memory.
func Start(t testing.TB, persistent bool) *Server {
	t.Helper()
	s := &Server{bin: Binary(t)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.port)
	if persistent {
		s.dir = t.TempDir()
	}
	s.start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	args := []string{"--host", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
	if s.dir != "" {
		args = append(args, "--path", s.dir)
	}
	s.stderr = &lockedWriter{}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = nil, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, killed whole
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start dynalite: %v", err)
	}
	s.exited = make(chan struct{})
	go func(c *exec.Cmd, exited chan struct{}) {
		_ = c.Wait() // killed by Stop; its exit status says nothing
		close(exited)
	}(s.cmd, s.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Any HTTP answer (dynalite refuses the unsigned request) means
		// it serves.
		resp, err := http.Post(s.Endpoint, "application/x-amz-json-1.0", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-s.exited:
			t.Fatalf("dynalite exited at start: %s", s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop(t)
			t.Fatalf("dynalite did not answer on %s within 30s: %v", s.Endpoint, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL, as a crash would) and waits for it to
// exit. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) // the group it leads; gone already is fine
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("dynalite pid %d did not exit after SIGKILL", s.cmd.Process.Pid)
	}
	s.cmd = nil
}

// Restart starts the server again on the same port (and, when
// persistent, the same data).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.start(t)
}

// Client returns an SDK client for the server with static credentials,
// the region us-east-1 and few retries.
func (s *Server) Client(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")),
		config.WithRetryMaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
}

// Env sets the AWS environment variables so that the usual configuration
// (config.LoadDefaultConfig) reaches this server's region with its
// credentials; the endpoint is still the caller's to pass.
func (s *Server) Env(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

// Items returns every item of table (a consistent full scan).
func Items(t testing.TB, c *dynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var out []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		out = append(out, page.Items...)
	}
	return out
}

// S, N, B and Bool read an attribute of an item ("" / nil / false when it
// is absent or of another type).
func S(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// N reads a number attribute as its decimal string.
func N(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

// B reads a binary attribute.
func B(it map[string]types.AttributeValue, name string) []byte {
	if v, ok := it[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

// Bool reads a boolean attribute.
func Bool(it map[string]types.AttributeValue, name string) bool {
	if v, ok := it[name].(*types.AttributeValueMemberBOOL); ok {
		return v.Value
	}
	return false
}

// Seq reads the item's seq attribute.
func Seq(t testing.TB, it map[string]types.AttributeValue) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(N(it, "seq"), 10, 64)
	if err != nil {
		t.Fatalf("item without a seq: %v", fmt.Sprint(it))
	}
	return n
}

// lockedWriter collects the server's stderr for error messages.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
