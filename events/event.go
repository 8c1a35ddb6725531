// Package events holds the envelope every incoming message is stored in and
// the contracts of the append-only log. It imports nothing of ours, no
// storage engine and no network code.
package events

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Sources name where an event came from. Broker sources carry the broker
// URL after the colon ("mqtt:tcp://host:1883").
const (
	SourceEmbedded = "embedded"        // the in-process MQTT broker
	SourceMQTT     = "mqtt"            // an external broker; stored as "mqtt:<url>"
	SourceHTTP     = "http"            // OwnTracks HTTP mode
	SourceAdmin    = "admin"           // server-side definitions (areas, ...)
	SourceRecorder = "import:recorder" // OwnTracks Recorder import
	SourceGPX      = "import:gpx"      // GPX import
	SourceGoogle   = "import:google"   // Google Takeout / Timeline import
	SourceServer   = "server"          // messages the server itself sent (cmd)
	SourceErased   = "erased"          // what is left of an erased event: its Seq (see Event.Erased)
)

// SourceImportPrefix starts the Source of every imported event
// (SourceRecorder, SourceGPX, SourceGoogle).
const SourceImportPrefix = "import:"

// IsImport reports whether source names an import: history brought in
// from elsewhere, not a message a phone sent us now.
func IsImport(source string) bool { return strings.HasPrefix(source, SourceImportPrefix) }

// Event is one message exactly as it arrived. Payload is never rewritten.
type Event struct {
	Seq      uint64    // dense, increasing, starts at 1; set by the log
	Received time.Time // when the server received it (import: the original time)
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool   // the retain flag as received
	Dup      bool   // the MQTT DUP flag as received (a redelivery attempt)
	Source   string // see the Source constants

	// Client and PacketID name the MQTT delivery the event arrived in:
	// the client id of the session (the phone's on the embedded broker,
	// our own subscriber's on an external broker) and the packet id on it.
	// A packet id is reused on a session only after it was acknowledged,
	// so a DUP publish with the same pair as the last event logged for it
	// is the transport delivering that event again. Empty and zero for
	// QoS 0 and for everything that does not come over MQTT.
	Client   string
	PacketID uint16

	// DuplicateOf is the sequence number of the earlier event this one
	// repeats, set by the log only when the transport redelivered it (DUP
	// set, same session and packet id, same topic and payload). Zero when
	// the event is new; the projections skip events where it is not.
	DuplicateOf uint64
}

// Erased reports whether e is the placeholder of an erased event: the log
// keeps its sequence number, so sequences stay dense, and nothing else
// (no topic, payload, time or source). A tombstone event later in the log
// says what was erased, by whom and when.
func (e *Event) Erased() bool { return e.Source == SourceErased }

// Redelivery reports whether e repeats an earlier event because the
// transport delivered it again, so whatever it says was already applied.
// Marks on events without DUP, or from sources that never redeliver, come
// from versions that compared content only: those events were sent again
// on purpose (a repeated command, a card after a clear) and count.
func (e *Event) Redelivery() bool {
	return e.DuplicateOf != 0 && e.Dup && !NeverRedelivered(e.Source)
}

// NeverRedelivered reports whether events from source are written once by
// their producer, so none of them is ever a redelivery: the server's own
// commands and definitions, HTTP posts (HTTP has no DUP) and imports
// (made idempotent by their import key instead).
func NeverRedelivered(source string) bool {
	switch source {
	case SourceAdmin, SourceServer, SourceHTTP:
		return true
	}
	return IsImport(source)
}

// ErrClosed is returned by appends and reads after the log was closed.
var ErrClosed = errors.New("events: log closed")

// ErrDiskFull is returned by appends refused because the volume holding
// the log is nearly full: nothing was stored, and the same append
// succeeds once space is freed. Intake answers it by not acknowledging
// (MQTT) or with 503 (HTTP), so senders retry.
var ErrDiskFull = errors.New("events: disk nearly full, not accepting new events")

// Appender adds events to the log. Append returns only once the event is
// durably stored; it is safe for concurrent use.
type Appender interface {
	Append(ctx context.Context, e Event) (seq uint64, err error)
	// AppendAsync queues e and calls done once it is durable (err == nil) or
	// failed. done runs on the log's completion goroutine, in log order, and
	// must not block for long. AppendAsync itself blocks only while the
	// queue is full.
	AppendAsync(e Event, done func(seq uint64, err error))
}

// Reader reads the log in sequence order.
type Reader interface {
	// Head is the sequence number of the newest durable event (0 when empty).
	Head() uint64
	// Scan calls fn for each event with Seq >= from, up to the head at the
	// time of the call, stopping at the first error fn returns.
	Scan(ctx context.Context, from uint64, fn func(Event) error) error
	// Changed returns a channel that is closed when events are appended
	// after the call. Take a new one after each wake-up.
	Changed() <-chan struct{}
}

// Follow calls fn for every event from seq onwards, then for each new event
// as it is appended, without polling, until ctx ends or fn fails.
func Follow(ctx context.Context, r Reader, from uint64, fn func(Event) error) error {
	if from == 0 {
		from = 1
	}
	for {
		changed := r.Changed() // take before scanning so no append is missed
		err := r.Scan(ctx, from, func(e Event) error {
			from = e.Seq + 1
			return fn(e)
		})
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
