package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// rawPublish connects as clientID, sends one QoS 1 PUBLISH with the given
// packet id and DUP flag (paho never lets a caller choose either), waits
// for its PUBACK and disconnects: what a phone does when it resends a
// message whose PUBACK it did not get.
func rawPublish(t testing.TB, addr, clientID, topic string, id uint16, dup, retain bool, payload []byte) {
	t.Helper()
	if err := tryRawPublish(addr, clientID, "", "", topic, id, dup, retain, payload); err != nil {
		t.Fatalf("raw publish to %s as %s: %v", topic, clientID, err)
	}
}

func tryRawPublish(addr, clientID, user, password, topic string, id uint16, dup, retain bool, payload []byte) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	str := func(b []byte, s string) []byte { return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...) }
	packet := func(header byte, body []byte) {
		_ = w.WriteByte(header)
		for n := len(body); ; {
			d := byte(n % 128)
			if n /= 128; n > 0 {
				d |= 0x80
			}
			_ = w.WriteByte(d)
			if n == 0 {
				break
			}
		}
		_, _ = w.Write(body)
	}
	flags := byte(0x02) // clean session
	if user != "" {
		flags |= 0xc0
	}
	body := append(str(nil, "MQTT"), 4, flags, 0, 0)
	body = str(body, clientID)
	if user != "" {
		body = str(str(body, user), password)
	}
	packet(0x10, body)
	if err := w.Flush(); err != nil {
		return err
	}
	var connack [4]byte
	if _, err := io.ReadFull(r, connack[:]); err != nil {
		return fmt.Errorf("read CONNACK: %w", err)
	}
	if connack[0] != 0x20 || connack[3] != 0 {
		return fmt.Errorf("CONNACK %x", connack)
	}
	header := byte(0x32)
	if dup {
		header |= 0x08
	}
	if retain {
		header |= 0x01
	}
	packet(header, append(binary.BigEndian.AppendUint16(str(nil, topic), id), payload...))
	if err := w.Flush(); err != nil {
		return err
	}
	var ack [4]byte
	if _, err := io.ReadFull(r, ack[:]); err != nil {
		return fmt.Errorf("read PUBACK: %w", err)
	}
	if ack[0] != 0x40 || binary.BigEndian.Uint16(ack[2:]) != id {
		return fmt.Errorf("PUBACK %x for packet %d", ack, id)
	}
	packet(0xe0, nil) // DISCONNECT
	return w.Flush()
}
