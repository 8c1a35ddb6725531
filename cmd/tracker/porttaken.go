package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"tracker/events/broker"
)

// portTakenError is a listen address another program holds, said in one
// line a newcomer can act on: the port, what probably holds it, and the
// flag that picks another.
type portTakenError struct {
	what, addr, flag string
	err              error
}

func (e *portTakenError) Error() string {
	return fmt.Sprintf("cannot listen for %s on %s: the port is taken, probably by %s; stop that, or pick another port with --%s %s",
		e.what, e.addr, e.holder(), e.flag, nextPort(e.addr))
}

func (e *portTakenError) Unwrap() error { return e.err }

// holder guesses what holds the port: Debian's mosquitto package (which
// the tests need) starts a system broker on 1883 as it installs.
func (e *portTakenError) holder() string {
	_, port, _ := net.SplitHostPort(e.addr)
	switch {
	case port == "1883" || port == "8883":
		return "a system Mosquitto (systemctl stop mosquitto) or another tracker"
	case e.what == "HTTP" || e.what == "HTTPS":
		return "another tracker or web server"
	}
	return "another tracker or MQTT broker"
}

// nextPort suggests the address with the next port, as an example.
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || p <= 0 || p >= 65535 {
		return "HOST:PORT"
	}
	if host == "" {
		return ":" + strconv.Itoa(p+1)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}

// portTaken turns err from listening on addr (what: "MQTT", "HTTP" …;
// flag: the flag that sets addr) into a portTakenError when the port is
// in use; other errors pass unchanged.
func portTaken(err error, what, addr, flag string) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	return &portTakenError{what: what, addr: addr, flag: flag, err: err}
}

// brokerPortTaken is portTaken for the embedded broker's listeners.
func brokerPortTaken(err error) error {
	var le *broker.ListenError
	if !errors.As(err, &le) {
		return err
	}
	switch le.Listener {
	case "ws":
		return portTaken(err, "MQTT over websocket", le.Addr, "mqtt-ws-listen")
	case "tls":
		return portTaken(err, "MQTT over TLS", le.Addr, "mqtt-tls-listen")
	}
	return portTaken(err, "MQTT", le.Addr, "mqtt-listen")
}
