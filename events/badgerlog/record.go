package badgerlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/klauspost/compress/s2"

	"tracker/events"
)

// The log is stored as blocks: one Badger entry per group commit, keyed by
// the block's first sequence number. Fewer, larger entries make a commit
// cheap (one skiplist insert instead of one per event) and compression
// makes the synced write small, which is what bounds throughput on a disk
// whose sync time grows with the bytes written.
//
// Block value:
//
//	version(1) = blockV1
//	codec(1)   = codecNone | codecS2
//	body       = records, compressed as codec says
//
// body: count(uvarint), then per event len(uvarint) + record.
//
// Record (recordV1, events without an MQTT delivery identity):
//
//	version(1) flags(1) qos(1) received-unix-nanos(8, big endian)
//	duplicateOf(uvarint) len(source)(uvarint) source len(topic)(uvarint) topic
//	payload (the rest, verbatim)
//
// Record (recordV2, events with a Client or PacketID): as recordV1 with
// len(client)(uvarint) client packetID(uvarint) after the source. Both
// versions are read; V1 is still written when there is no identity, so
// most records keep their size.
//
// Record (recordErased): the version byte alone. It stands in for an
// event an erasure removed (erase.go), so sequence numbers stay dense;
// it reads as an event with only Seq and Source events.SourceErased.
const (
	blockV1      byte = 1
	recordV1     byte = 1
	recordV2     byte = 2
	recordErased byte = 3

	codecNone byte = 0
	codecS2   byte = 1

	compressAbove = 512 // bytes of body; smaller blocks are stored plain
)

const (
	flagRetained byte = 1 << iota
	flagDup
)

var errShortRecord = errors.New("badgerlog: record truncated")

func appendRecord(dst []byte, e *events.Event) []byte {
	var flags byte
	if e.Retained {
		flags |= flagRetained
	}
	if e.Dup {
		flags |= flagDup
	}
	version := recordV1
	if e.Client != "" || e.PacketID != 0 {
		version = recordV2
	}
	dst = append(dst, version, flags, e.QoS)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Received.UnixNano()))
	dst = binary.AppendUvarint(dst, e.DuplicateOf)
	dst = binary.AppendUvarint(dst, uint64(len(e.Source)))
	dst = append(dst, e.Source...)
	if version == recordV2 {
		dst = binary.AppendUvarint(dst, uint64(len(e.Client)))
		dst = append(dst, e.Client...)
		dst = binary.AppendUvarint(dst, uint64(e.PacketID))
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Topic)))
	dst = append(dst, e.Topic...)
	return append(dst, e.Payload...)
}

func recordSize(e *events.Event) int {
	return 3 + 8 + 5*binary.MaxVarintLen64 + len(e.Source) + len(e.Client) + len(e.Topic) + len(e.Payload)
}

// decodeRecord fills e from b. Strings are copied; the payload aliases b.
func decodeRecord(b []byte, e *events.Event) error {
	if len(b) > 0 && b[0] == recordErased {
		e.Source = events.SourceErased
		return nil
	}
	if len(b) < 11 {
		return errShortRecord
	}
	version := b[0]
	if version != recordV1 && version != recordV2 {
		return fmt.Errorf("badgerlog: unknown record version %d", b[0])
	}
	flags := b[1]
	e.Retained = flags&flagRetained != 0
	e.Dup = flags&flagDup != 0
	e.QoS = b[2]
	e.Received = time.Unix(0, int64(binary.BigEndian.Uint64(b[3:11]))).UTC()
	b = b[11:]
	var n int
	if e.DuplicateOf, n = binary.Uvarint(b); n <= 0 {
		return errShortRecord
	}
	b = b[n:]
	var err error
	if e.Source, b, err = readString(b); err != nil {
		return err
	}
	if version == recordV2 {
		if e.Client, b, err = readString(b); err != nil {
			return err
		}
		pid, n := binary.Uvarint(b)
		if n <= 0 || pid > 0xffff {
			return errShortRecord
		}
		e.PacketID, b = uint16(pid), b[n:]
	}
	if e.Topic, b, err = readString(b); err != nil {
		return err
	}
	e.Payload = b
	return nil
}

func readString(b []byte) (string, []byte, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return "", nil, errShortRecord
	}
	return string(b[n : n+int(l)]), b[n+int(l):], nil
}

// encodeBlock turns the body (count + length-prefixed records) into a
// stored block value.
func encodeBlock(body []byte) []byte {
	if len(body) < compressAbove {
		return append([]byte{blockV1, codecNone}, body...)
	}
	out := make([]byte, 2+s2.MaxEncodedLen(len(body)))
	out[0], out[1] = blockV1, codecS2
	enc := s2.Encode(out[2:], body)
	return out[:2+len(enc)]
}

// blockBody returns the block's body (count + records), decompressed
// into buf when it is big enough.
func blockBody(first uint64, v, buf []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != blockV1 {
		return nil, fmt.Errorf("badgerlog: block %d: unknown version", first)
	}
	body := v[2:]
	switch v[1] {
	case codecNone:
	case codecS2:
		var err error
		if body, err = s2.Decode(buf[:cap(buf)], body); err != nil {
			return nil, fmt.Errorf("badgerlog: block %d: %w", first, err)
		}
	default:
		return nil, fmt.Errorf("badgerlog: block %d: unknown codec %d", first, v[1])
	}
	return body, nil
}

// decodeBlock calls fn for each event in the block starting at seq first.
// Event payloads alias a buffer owned by the block; they stay valid.
func decodeBlock(first uint64, v []byte, fn func(events.Event) error) error {
	_, err := decodeBlockBuf(first, v, nil, fn)
	return err
}

// decodeBlockBuf is decodeBlock decompressing into buf when it is big
// enough, and returning the buffer used: for a reader that keeps nothing
// of the events after fn returns and decodes many blocks.
func decodeBlockBuf(first uint64, v, buf []byte, fn func(events.Event) error) ([]byte, error) {
	body, err := blockBody(first, v, buf)
	if err != nil {
		return buf, err
	}
	if v[1] == codecS2 {
		buf = body
	}
	count, n := binary.Uvarint(body)
	if n <= 0 {
		return buf, fmt.Errorf("badgerlog: block %d: %w", first, errShortRecord)
	}
	body = body[n:]
	for i := range count {
		l, n := binary.Uvarint(body)
		if n <= 0 || uint64(len(body)-n) < l {
			return buf, fmt.Errorf("badgerlog: block %d event %d: %w", first, i, errShortRecord)
		}
		rec := body[n : n+int(l) : n+int(l)]
		body = body[n+int(l):]
		e := events.Event{Seq: first + i}
		if err := decodeRecord(rec, &e); err != nil {
			return buf, fmt.Errorf("badgerlog: event %d: %w", e.Seq, err)
		}
		if err := fn(e); err != nil {
			return buf, err
		}
	}
	return buf, nil
}
