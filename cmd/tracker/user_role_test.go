package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserRole: `tracker user role` makes the same role event as the
// users page, offline and through a running server, keeps the password,
// and never leaves the server without an admin.
func TestUserRole(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var out, errOut bytes.Buffer
	user := func(args ...string) error {
		out.Reset()
		errOut.Reset()
		return runUserWith(t.Context(), append(args, "--data", data), strings.NewReader("s3cret-pass\n"), &out, &errOut)
	}
	if err := user("add", "root", "--admin", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if err := user("add", "vic", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if err := user("role", "root", "--to", "viewer"); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("offline: the last admin made a viewer: %v", err)
	}
	if err := user("role", "vic"); err == nil {
		t.Error("role without --to accepted")
	}
	if err := user("role", "vic", "--to", "admin"); err != nil || !strings.Contains(out.String(), `user "vic" role changed`) || !strings.Contains(out.String(), "admin, sees everybody") {
		t.Fatalf("offline role vic admin: %v\n%s", err, out.String())
	}
	s := startServer(t, data)
	t.Setenv("TRACKER_LOGIN", "vic")
	t.Setenv("TRACKER_LOGIN_PASSWORD", "s3cret-pass") // vic's password survived the role change
	if err := user("role", "root", "--to", "viewer"); err != nil || !strings.Contains(out.String(), "viewer") {
		t.Fatalf("through the server: role root viewer: %v\n%s%s", err, out.String(), errOut.String())
	}
	if err := user("role", "vic", "--to", "viewer"); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("through the server: the last admin made a viewer: %v", err)
	}
	if err := user("list"); err != nil || !strings.Contains(out.String(), "LAST LOGIN") {
		t.Errorf("list: %v\n%s", err, out.String())
	}
	_ = s
}
