package broker

import "github.com/mochi-mqtt/server/v2/packets"

// ForgetRetained drops the retained messages the broker holds for
// topics, sending nothing to anybody: an erasure took their events out of
// the log, and a new subscriber must not receive them from memory.
func (b *Broker) ForgetRetained(topics []string) {
	for _, t := range topics {
		b.srv.Topics.RetainMessage(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: t})
	}
}
