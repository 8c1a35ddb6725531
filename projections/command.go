package projections

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/user"
	"time"
)

// Issue is the identity every server-side command (user and area events,
// source events.SourceAdmin) carries in its payload: two identical
// commands issued one after the other are two events with their own
// identity, each applied, and the log shows who did what when.
type Issue struct {
	// ID is random (128 bits, hex), made when the command is issued.
	ID string `json:"id,omitempty"`
	// Issued is when the command was issued.
	Issued time.Time `json:"issued,omitzero"`
	// By is who issued it: the logged-in user's name through the web side
	// or API, "cli:<OS user>" for `tracker` run on the data directory,
	// "open-mode" for the anonymous admin of a server without users.
	By string `json:"by,omitempty"`
}

// NewIssue returns a fresh identity for a command issued by by at now.
func NewIssue(by string, now time.Time) Issue {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return Issue{ID: hex.EncodeToString(b[:]), Issued: now.UTC(), By: by}
}

// CLIIssuer names the person running `tracker` offline: "cli:" and the
// OS user, or "cli" when it is unknown.
func CLIIssuer() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return "cli:" + name
	}
	return "cli"
}
