// Package eventjson renders log events as the JSON lines that `tracker log
// --json` prints and the server's event API streams, so both speak the same
// format; and the log export's lines (Stored), the same format without the
// decoded fields.
package eventjson

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"tracker/events"
	"tracker/events/owntracks"
)

// Line is one event as JSON. Field names are a promise to scripts.
type Line struct {
	Seq        uint64    `json:"seq"`
	ReceivedAt time.Time `json:"received_at"`
	Topic      string    `json:"topic"`
	Source     string    `json:"source"`
	QoS        byte      `json:"qos"`
	Retained   bool      `json:"retained"`
	Dup        bool      `json:"dup"`
	// Client and PacketID are the MQTT session and packet id the event
	// arrived in (absent for HTTP, imports and the server's own events);
	// with Dup they decide DuplicateOf, the redelivery this event repeats.
	Client      string `json:"client,omitempty"`
	PacketID    uint16 `json:"packet_id,omitempty"`
	DuplicateOf uint64 `json:"duplicate_of,omitempty"`
	Kind        string `json:"kind"`
	User        string `json:"user"`
	Device      string `json:"device"`
	Decrypted   bool   `json:"decrypted,omitempty"`
	// Invalid is why the event cannot be used; empty when it is valid.
	Invalid string `json:"invalid"`
	// Payload holds the raw bytes when they are valid UTF-8; otherwise
	// PayloadB64 holds them base64-encoded.
	Payload    *string `json:"payload,omitempty"`
	PayloadB64 string  `json:"payload_b64,omitempty"`
}

// Make decodes e with d and describes it.
func Make(e events.Event, d *owntracks.Decoder) Line {
	l := Line{
		Seq: e.Seq, ReceivedAt: e.Received.UTC(), Topic: e.Topic, Source: e.Source,
		QoS: e.QoS, Retained: e.Retained, Dup: e.Dup, DuplicateOf: e.DuplicateOf,
		Client: e.Client, PacketID: e.PacketID,
	}
	if e.Erased() {
		l.Kind = "erased" // a placeholder: the seq is all that is left
		return l
	}
	if e.Source == events.SourceAdmin {
		// The server's own definitions (areas, users), not OwnTracks.
		l.Kind = "admin"
		setPayload(&l, e.Payload)
		return l
	}
	m, err := d.DecodeAt(e.Topic, e.Payload, e.Received) // judged as of arrival, so replays agree
	l.Kind, l.User, l.Device, l.Decrypted = string(m.Kind), m.Topic.User, m.Topic.Device, m.Decrypted
	if err != nil {
		l.Invalid = err.Error()
		var inv *owntracks.Invalid
		if errors.As(err, &inv) && l.Kind == "" {
			l.Kind = string(inv.Kind)
		}
	}
	if l.Kind == "" {
		l.Kind = "invalid"
	}
	setPayload(&l, e.Payload)
	return l
}

func setPayload(l *Line, payload []byte) {
	if utf8.Valid(payload) {
		s := string(payload)
		l.Payload = &s
	} else {
		l.PayloadB64 = base64.StdEncoding.EncodeToString(payload)
	}
}

// Stored is e as a line of the log export (`tracker export`, GET
// /api/v1/export, the import API): the stored fields and the payload,
// nothing decoded. `tracker import log` restores it byte for byte.
func Stored(e events.Event) Line {
	l := Line{
		Seq: e.Seq, ReceivedAt: e.Received.UTC(), Topic: e.Topic, Source: e.Source,
		QoS: e.QoS, Retained: e.Retained, Dup: e.Dup, DuplicateOf: e.DuplicateOf,
		Client: e.Client, PacketID: e.PacketID,
	}
	setPayload(&l, e.Payload)
	return l
}

// WriteStored writes every event of log up to its current head to w as
// export lines and returns how many it wrote.
func WriteStored(ctx context.Context, w io.Writer, log events.Reader) (uint64, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var n uint64
	err := log.Scan(ctx, 1, func(e events.Event) error {
		if err := enc.Encode(Stored(e)); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// RawPayload is the payload's bytes: Payload as text, or PayloadB64
// decoded; nil when the line has neither.
func (l Line) RawPayload() ([]byte, error) {
	switch {
	case l.Payload != nil && l.PayloadB64 != "":
		return nil, errors.New("both payload and payload_b64")
	case l.Payload != nil:
		return []byte(*l.Payload), nil
	case l.PayloadB64 != "":
		p, err := base64.StdEncoding.DecodeString(l.PayloadB64)
		if err != nil {
			return nil, fmt.Errorf("payload_b64: %w", err)
		}
		return p, nil
	}
	return nil, nil
}
