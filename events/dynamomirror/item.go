package dynamomirror

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/events/owntracks"
)

// Attribute names of a mirrored item. The key is (device, ts).
const (
	AttrDevice      = "device"       // partition key (S): "user/device", or a fallback partition
	AttrTS          = "ts"           // sort key (S): SortKey(received, seq)
	AttrSeq         = "seq"          // N: the event's sequence number in the log
	AttrTopic       = "topic"        // S: as received
	AttrKind        = "kind"         // S: as `tracker log --json` reports it
	AttrPayload     = "payload"      // B: the bytes exactly as received
	AttrPayloadSize = "payload_size" // N: len(payload), also when payload is omitted
	AttrOmitted     = "payload_omitted"
	AttrReceived    = "received"     // S: RFC 3339 with nanoseconds, UTC
	AttrSource      = "source"       // S: see events.Source*
	AttrQoS         = "qos"          // N
	AttrRetained    = "retained"     // BOOL
	AttrDuplicateOf = "duplicate_of" // N: only for redeliveries
	AttrClient      = "client"       // S: MQTT client id of the session, when the event came over MQTT
	AttrPacketID    = "packet_id"    // N: MQTT packet id on that session, when not 0
	AttrInvalid     = "invalid"      // S: why the event cannot be used, when it cannot
)

// Partitions of events that do not come from a phone's topic. '#' never
// occurs in a user or device name (the topic parser rejects MQTT wildcards),
// so neither can collide with a real "user/device".
const (
	PartitionAdmin = "#admin" // the server's own definitions (areas, users)
	PartitionOther = "#other" // topics that are not owntracks/<user>/<device>[/...]
)

// maxItemBytes is DynamoDB's item size limit (400 KB, names and values
// counted) less a margin for our estimate's rounding.
const maxItemBytes = 400*1024 - 1024

// maxPartitionKey is DynamoDB's limit on a partition key value.
const maxPartitionKey = 2048

// tsLayout has a fixed width (nanoseconds always written, UTC "Z"), so the
// sort key's lexical order is time order.
const tsLayout = "2006-01-02T15:04:05.000000000Z"

// SortKey is the item's sort key: the receive time in UTC with nine
// fractional digits, "#", and the sequence number zero-padded to 20 digits
// ("2026-11-25T08:00:00.123456789Z#00000000000000000042"). Sorted as
// strings, a device's items are in time order and, within the same
// nanosecond, in log order; the sequence number makes it unique.
func SortKey(received time.Time, seq uint64) string {
	b := make([]byte, 0, len(tsLayout)+1+20)
	b = received.UTC().AppendFormat(b, tsLayout)
	b = append(b, "#00000000000000000000"...)
	digits := strconv.AppendUint(nil, seq, 10)
	copy(b[len(b)-len(digits):], digits)
	return string(b)
}

// partition is the item's partition key: "user/device" from the topic,
// PartitionAdmin for the server's own events and PartitionOther for any
// other topic.
func partition(e events.Event, l eventjson.Line) string {
	switch {
	case e.Source == events.SourceAdmin:
		return PartitionAdmin
	case l.User == "" || l.Device == "" || len(l.User)+1+len(l.Device) > maxPartitionKey:
		return PartitionOther
	}
	return l.User + "/" + l.Device
}

// item is one event as a DynamoDB item. The payload is left out (and
// payload_omitted set) only when it would push the item past DynamoDB's
// 400 KB limit; the log keeps payloads up to its own, larger limit.
func item(e events.Event, d *owntracks.Decoder) map[string]types.AttributeValue {
	line := eventjson.Make(e, d) // the same kind and reason `tracker log --json` gives
	it := map[string]types.AttributeValue{
		AttrDevice:      &types.AttributeValueMemberS{Value: partition(e, line)},
		AttrTS:          &types.AttributeValueMemberS{Value: SortKey(e.Received, e.Seq)},
		AttrSeq:         num(e.Seq),
		AttrTopic:       &types.AttributeValueMemberS{Value: e.Topic},
		AttrKind:        &types.AttributeValueMemberS{Value: line.Kind},
		AttrPayloadSize: num(uint64(len(e.Payload))),
		AttrReceived:    &types.AttributeValueMemberS{Value: e.Received.UTC().Format(time.RFC3339Nano)},
		AttrSource:      &types.AttributeValueMemberS{Value: e.Source},
		AttrQoS:         num(uint64(e.QoS)),
		AttrRetained:    &types.AttributeValueMemberBOOL{Value: e.Retained},
	}
	if e.DuplicateOf != 0 {
		it[AttrDuplicateOf] = num(e.DuplicateOf)
	}
	if e.Client != "" {
		it[AttrClient] = &types.AttributeValueMemberS{Value: e.Client}
	}
	if e.PacketID != 0 {
		it[AttrPacketID] = num(uint64(e.PacketID))
	}
	if line.Invalid != "" {
		it[AttrInvalid] = &types.AttributeValueMemberS{Value: line.Invalid}
	}
	if size(it)+len(AttrPayload)+len(e.Payload) <= maxItemBytes {
		it[AttrPayload] = &types.AttributeValueMemberB{Value: e.Payload}
	} else {
		it[AttrOmitted] = &types.AttributeValueMemberBOOL{Value: true}
	}
	return it
}

func num(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

// size estimates an item's size as DynamoDB counts it (names plus values),
// erring high for numbers.
func size(it map[string]types.AttributeValue) int {
	n := 0
	for k, v := range it {
		n += len(k)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value) + 1
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		default:
			n++
		}
	}
	return n
}
