package broker_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// rawClient is the least an MQTT 3.1.1 QoS 1 publisher can do: pre-encode,
// write, count PUBACKs. It has no store, no retries and no keepalive.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func dialRaw(addr, id string) (*rawClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	var body []byte
	body = appendString(body, "MQTT")
	body = append(body, 4, 0x02, 0, 0) // protocol level 4, clean session, keepalive 0
	body = appendString(body, id)
	if err := c.writePacket(0x10, body); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	var connack [4]byte
	if _, err := io.ReadFull(c.r, connack[:]); err != nil {
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	if connack[0] != 0x20 || connack[3] != 0 {
		return nil, fmt.Errorf("CONNACK %x", connack)
	}
	return c, nil
}

func (c *rawClient) Close() error { return c.conn.Close() }

// rawLogin is what dialRawAs puts in CONNECT.
type rawLogin struct {
	version        byte // protocol level: 4 (MQTT 3.1.1, the default) or 5
	user, password string
	persistent     bool // clean session off
}

// dialRawAs connects with l and returns the client and the CONNACK's
// return (reason) code; the client is nil unless the code is 0.
func dialRawAs(addr, id string, l rawLogin) (*rawClient, byte, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	if l.version == 0 {
		l.version = 4
	}
	flags := byte(0x02)
	if l.persistent {
		flags = 0
	}
	if l.user != "" {
		flags |= 0x80 | 0x40
	}
	body := appendString(nil, "MQTT")
	body = append(body, l.version, flags, 0, 30) // keepalive 30 s
	if l.version == 5 {
		body = append(body, 0) // no properties
	}
	body = appendString(body, id)
	if l.user != "" {
		body = appendString(body, l.user)
		body = appendString(body, l.password)
	}
	if err := c.writePacket(0x10, body); err != nil {
		return nil, 0, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, 0, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, ack, err := c.readPacket()
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		_ = conn.Close()
		return nil, 0, fmt.Errorf("read CONNACK: %w", err)
	}
	if typ>>4 != 2 || len(ack) < 2 {
		_ = conn.Close()
		return nil, 0, fmt.Errorf("want CONNACK, got packet type %d", typ>>4)
	}
	if ack[1] != 0 {
		_ = conn.Close()
		return nil, ack[1], nil
	}
	return c, 0, nil
}

// readPacket reads one packet: its first header byte and its body.
func (c *rawClient) readPacket() (byte, []byte, error) {
	typ, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for range 4 {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return typ, body, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func (c *rawClient) writePacket(header byte, body []byte) error {
	_ = c.w.WriteByte(header)
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		_ = c.w.WriteByte(d)
		if n == 0 {
			break
		}
	}
	_, err := c.w.Write(body)
	return err
}

// publishWindow sends count QoS 1 locations, at most window unacknowledged;
// PUBACKs are read on a second goroutine.
func (c *rawClient) publishWindow(topic string, p, count, window int) error {
	credit := make(chan struct{}, window)
	readErr := make(chan error, 1)
	go func() {
		var ack [4]byte
		for range count {
			if _, err := io.ReadFull(c.r, ack[:]); err != nil {
				readErr <- fmt.Errorf("read PUBACK: %w", err)
				return
			}
			if ack[0] != 0x40 {
				readErr <- fmt.Errorf("unexpected packet %x", ack)
				return
			}
			<-credit
		}
		readErr <- nil
	}()
	var body bytes.Buffer
	for n := range count {
		select {
		case credit <- struct{}{}:
		case err := <-readErr:
			return errors.Join(err, errors.New("reader ended early"))
		}
		body.Reset()
		body.Write(appendString(nil, topic))
		body.Write(binary.BigEndian.AppendUint16(nil, uint16(n%65535+1)))
		body.Write(location(p, n))
		if err := c.writePacket(0x32, body.Bytes()); err != nil {
			return err
		}
		if len(credit) == cap(credit) || n == count-1 {
			if err := c.w.Flush(); err != nil {
				return err
			}
		}
	}
	return <-readErr
}

// subscribe sends SUBSCRIBE for filter at QoS 0 and reads the SUBACK.
func (c *rawClient) subscribe(filter string) error { return c.subscribeQoS(filter, 0) }

// subscribeQoS sends SUBSCRIBE for filter at qos and reads the SUBACK.
func (c *rawClient) subscribeQoS(filter string, qos byte) error {
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = appendString(body, filter)
	body = append(body, qos)
	if err := c.writePacket(0x82, body); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var suback [5]byte
	if _, err := io.ReadFull(c.r, suback[:]); err != nil {
		return fmt.Errorf("read SUBACK: %w", err)
	}
	if suback[0] != 0x90 || suback[4] > 2 {
		return fmt.Errorf("SUBACK %x", suback)
	}
	return nil
}

// publish1 sends one QoS 1 PUBLISH without waiting for its PUBACK.
func (c *rawClient) publish1(topic string, id uint16, payload []byte) error {
	body := appendString(nil, topic)
	body = binary.BigEndian.AppendUint16(body, id)
	body = append(body, payload...)
	if err := c.writePacket(0x32, body); err != nil {
		return err
	}
	return c.w.Flush()
}
