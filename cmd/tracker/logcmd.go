package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventjson"
	"tracker/events/owntracks"
)

type logConfig struct {
	target
	From   uint64
	Limit  uint64
	JSON   bool
	Follow bool
	secretFlags
}

func runLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg logConfig
	fs := newFlagSet("log [--from SEQ] [--limit N] [--json] [--follow]",
		"Prints events from the log, oldest first. When a running server holds the\ndatabase, reads through that server's HTTP API instead (and says so).", stderr)
	cfg.target.flags(fs, "data `directory`", "base `URL` of a running server to read from (default: the one using --data)")
	fs.Uint64Var(&cfg.From, "from", 1, "first sequence number `SEQ` to print")
	fs.Uint64Var(&cfg.Limit, "limit", 0, "print at most `N` events (0: all)")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object per line")
	fs.BoolVar(&cfg.Follow, "follow", false, "keep printing new events as they arrive")
	cfg.secretFlags.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	print := func(l eventjson.Line) error {
		if err := writeLine(out, l, cfg.JSON); err != nil {
			return err
		}
		if cfg.Follow {
			return out.Flush()
		}
		return nil
	}

	log, api, err := cfg.reach(false, badgerlog.Options{}, "reading", nil, stderr)
	if err != nil {
		return err
	}
	if api != nil {
		return logFromServer(ctx, api, cfg, print)
	}
	defer log.Close()

	secrets, err := cfg.secrets()
	if err != nil {
		return err
	}
	d := &owntracks.Decoder{Keys: secrets}
	var n uint64
	each := func(e events.Event) error {
		if err := print(eventjson.Make(e, d)); err != nil {
			return err
		}
		if n++; cfg.Limit > 0 && n >= cfg.Limit {
			return errStop
		}
		return nil
	}
	if cfg.Follow {
		err = events.Follow(ctx, log, cfg.From, each)
	} else {
		err = log.Scan(ctx, cfg.From, each)
	}
	if errors.Is(err, errStop) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")

// logFromServer reads the event stream of a running server.
func logFromServer(ctx context.Context, api *adminClient, cfg logConfig, print func(eventjson.Line) error) error {
	q := url.Values{}
	q.Set("from", strconv.FormatUint(cfg.From, 10))
	if cfg.Limit > 0 {
		q.Set("limit", strconv.FormatUint(cfg.Limit, 10))
	}
	if cfg.Follow {
		q.Set("follow", "1")
	}
	resp, err := api.do(ctx, http.MethodGet, "/api/v1/events?"+q.Encode(), "", nil)
	if err != nil {
		return fmt.Errorf("read events from server: %w", err)
	}
	defer resp.Body.Close()
	// A decoder, not a line scanner: a line is one event, as large as the
	// server accepted it (a scanner's fixed buffer refused big ones).
	dec := json.NewDecoder(resp.Body)
	for {
		var l eventjson.Line
		err := dec.Decode(&l)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read events from server (the stream broke off or sent a bad line): %w", err)
		}
		if err := print(l); err != nil {
			return err
		}
	}
}

// writeLine prints one event as JSON or as a readable line.
func writeLine(w io.Writer, l eventjson.Line, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	flags := ""
	if l.Retained {
		flags += " retained"
	}
	if l.Dup {
		flags += " dup"
	}
	if l.Client != "" || l.PacketID != 0 {
		flags += fmt.Sprintf(" client=%s packet=%d", strconv.QuoteToGraphic(l.Client), l.PacketID)
	}
	if l.DuplicateOf != 0 {
		flags += fmt.Sprintf(" duplicate-of=%d", l.DuplicateOf)
	}
	if l.Invalid != "" {
		flags += fmt.Sprintf(" invalid=%q", l.Invalid)
	}
	payload := "(binary, base64) " + l.PayloadB64
	if l.Payload != nil {
		payload = *l.Payload
	}
	if len(payload) > 160 {
		cut := 160
		for cut > 0 && !utf8.RuneStart(payload[cut]) {
			cut--
		}
		payload = payload[:cut] + fmt.Sprintf("… (%d bytes)", len(payload))
	}
	// Quoted so control characters and hostile bytes cannot mess up a terminal.
	quoted := strconv.QuoteToGraphic(payload)
	_, err := fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s%s\t%s\n", l.Seq, l.ReceivedAt.Format("2006-01-02T15:04:05.000Z"),
		l.Source, strconv.QuoteToGraphic(l.Topic), l.Kind, flags, quoted[1:len(quoted)-1])
	return err
}
