// Package mqttingest subscribes to an external MQTT broker (Mosquitto, AWS
// IoT Core, ...) and appends every message to the event log.
//
// # Delivery
//
// The client connects with a fixed client id and a persistent session
// (clean session off), subscribes at QoS 1 and turns paho's automatic
// acknowledgement off. A message is acknowledged only after the log
// reports it durable (AppendAsync's done callback, after the group commit
// is synced). A failed append leaves the message unacknowledged; the
// broker redelivers it on the next connection (MQTT 3.1.1 brokers resend
// only on reconnect) with DUP and the same packet id on our session; each
// event carries our client id and the packet id, so the log flags the
// redelivery (DuplicateOf) when that packet's last event has the same
// content. Messages are appended in arrival order, so each publisher's
// order is kept.
//
// Acknowledgements go through paho's Message.Ack once the event is
// durable. Writing the PUBACKs of a group commit ourselves, in one write
// on the message's connection, cut CPU per message by a fifth, but was
// taken out: in one run out of three the ingest then failed to notice a
// broker restart (TestBrokerRestartDuringIngest) until its keepalive.
//
// Subscriptions: re-subscribing makes the broker replay every retained
// message, so on reconnects we subscribe only when the broker says it kept
// no session for us. paho v1.5.1 does not report that flag on reconnects;
// conn.go reads it from the CONNACK. The first connection of each Ingest
// subscribes regardless (see Ingest.subscribe); the retained replay that
// causes is recognised by the log and not stored twice.
//
// # Unacknowledged messages in flight
//
// paho puts no limit on received messages awaiting our acknowledgement;
// the broker does. Mosquitto sends a client at most max_inflight_messages
// unacknowledged QoS 1 messages (default 20) and queues the rest, up to
// max_queued_messages per client (default 1000), beyond which it drops
// QoS 1 messages silently, while we are slow as well as while we are
// offline. Because our acknowledgements wait for the log's group commit,
// a strictly enforced window caps us at max_inflight_messages per commit:
// 20 messages per 1-4 ms commit on an SSD, per 10-50 ms on an SD card.
// (Mosquitto 2.0.11, the Debian 12 package, refills the window from the
// queue on every PUBACK without counting what is already in flight, see
// eclipse-mosquitto/mosquitto#2301: with max_inflight_messages 20 we saw
// over 1,500 unacknowledged messages. Do not rely on that.) There is no
// deadlock: acknowledgements are sent from our own goroutine, never from
// paho's, and the broker resumes sending as they arrive. AWS IoT Core has
// a fixed limit of 100 unacknowledged messages per client (and 100
// publishes per second per connection, at most 8 filters per SUBSCRIBE).
//
// # Recommended Mosquitto settings
//
// For the broker the server subscribes to (mosquitto.conf, global):
//
//	# Unacknowledged QoS 1 messages per client (default 20). Our acks wait
//	# for the log's fsync; 20 caps ingest at 20 messages per commit.
//	max_inflight_messages 1000
//	# Per-client queue beyond those in flight (default 1000). Messages
//	# beyond it are dropped silently: size it for the longest server
//	# downtime (restart, upgrade) and for bursts.
//	max_queued_messages 100000
//	# Keep sessions and queued messages across broker restarts, and save
//	# them more often than every 30 minutes (a crash loses what was not
//	# saved; SIGTERM saves).
//	persistence true
//	persistence_location /var/lib/mosquitto/
//	autosave_interval 60
//	# Leave persistent_client_expiration unset (sessions never expire), or
//	# longer than the longest server downtime.
//
// These also apply to the phones' sessions, which is harmless: phones
// receive little. A phone that keeps a persistent session and stays
// offline for weeks can accumulate up to max_queued_messages of its
// friends' locations; max_queued_bytes caps that in bytes if needed, but
// it applies to the server's session too.
//
// Measured with BenchmarkIngestMosquitto (2-core VM shared with other
// work; 20 publishers flood 50,000 QoS 1 messages, everything in one
// box): with the recommended settings nothing is lost, and the ingest
// makes messages durable at 15,000-20,000/s, 75-100% (median about 85%)
// of the rate at which a plain auto-acknowledging paho subscriber receives
// them in the same run; run alone, each reaches about 30,000/s (ingest 93%
// of the plain subscriber). The gap is CPU (the flood saturates both
// cores), not the window. Both subscribers fall up to 45,000 messages
// behind the publishers; with Mosquitto's defaults (queue 1000) the plain
// subscriber loses 65-85% of the flood and the ingest about 90-95%.
package mqttingest
