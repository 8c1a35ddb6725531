// Package nominatim names street addresses with a Nominatim-compatible
// reverse geocoder (--geocoder-url): GET <url>/reverse?format=jsonv2&lat=&lon=.
// It never makes a reader wait: Address answers from a bounded cache and,
// for what it does not know, queues a lookup that one worker sends at most
// once per interval (Nominatim's usage policy: 1 request/s). Nothing on the
// ingest path calls it; what it knows is disposable (a restart may forget
// it or reload it from a small file).
package nominatim

import (
	"bufio"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"tracker/projections/geocode"
)

// Config sets up a Book. Zero values take the defaults named.
type Config struct {
	// URL is the service's base, e.g. https://nominatim.example.org
	// ("/reverse" is added). Required.
	URL string
	// Interval is the least time between two requests (default 1 s).
	Interval time.Duration
	// CacheSize bounds the addresses kept (default 10,000; about 150 bytes
	// each).
	CacheSize int
	// Queue bounds the positions waiting for a lookup (default 256); more
	// are dropped and asked for again by a later read.
	Queue int
	// Timeout bounds one request, answer included (default 10 s).
	Timeout time.Duration
	// File keeps the cache across restarts (read by New, written when Run
	// ends and every 10 minutes); "" keeps it in memory only.
	File string
	// UserAgent names this server to the service (its policy asks for one).
	UserAgent string
	// Client sends the requests (default: a client that follows no
	// redirects).
	Client *http.Client
	Logger *slog.Logger
}

const (
	// maxBody bounds an answer: a reverse answer is about 1–2 KB.
	maxBody = 64 << 10
	// maxAddr bounds an address kept and served.
	maxAddr = 300
	// failPause is the longest wait after failures (doubling from the
	// interval).
	failPause = 5 * time.Minute
	saveEvery = 10 * time.Minute
)

// Book is the address cache and its lookup worker.
type Book struct {
	cfg     Config
	reverse *url.URL
	log     *slog.Logger

	mu      sync.Mutex
	known   map[geocode.Cell]*list.Element // of entry
	order   *list.List                     // most recently used first
	pending map[geocode.Cell]bool
	queue   chan geocode.Cell
	dirty   bool

	// Counters, for tests and the operator.
	asked, answered, failed, dropped int
}

type entry struct {
	cell geocode.Cell
	addr string // "" when the service knows no address there
}

// New checks cfg and returns a Book; Run sends its lookups.
func New(cfg Config) (*Book, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/") + "/reverse")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("nominatim: --geocoder-url %q: want an http(s) URL of a Nominatim-compatible service", cfg.URL)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10_000
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 256
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "tracker (self-hosted OwnTracks server)"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirected: give --geocoder-url's final address")
		}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Book{
		cfg: cfg, reverse: u, log: cfg.Logger,
		known: map[geocode.Cell]*list.Element{}, order: list.New(),
		pending: map[geocode.Cell]bool{}, queue: make(chan geocode.Cell, cfg.Queue),
	}
	if cfg.File != "" {
		if err := b.load(); err != nil {
			b.log.Warn("geocoder cache not read; starting empty (it is rebuilt as positions are asked for)", "file", cfg.File, "err", err)
		}
	}
	return b, nil
}

// Address returns the street address of (lat, lon)'s 0.001° cell when the
// book has it. Otherwise it queues a lookup, unless one is pending or the
// queue is full, and returns false at once.
func (b *Book) Address(lat, lon float64) (string, bool) {
	c, ok := geocode.CellOf(lat, lon)
	if !ok {
		return "", false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.known[c]; ok {
		b.order.MoveToFront(e)
		a := e.Value.(*entry).addr
		return a, a != ""
	}
	if b.pending[c] {
		return "", false
	}
	select {
	case b.queue <- c:
		b.pending[c] = true
	default:
		b.dropped++
	}
	return "", false
}

// Run sends the queued lookups, one per interval, until ctx ends; it
// saves Config.File every 10 minutes and when it ends.
func (b *Book) Run(ctx context.Context) error {
	defer b.save()
	save := time.NewTicker(saveEvery)
	defer save.Stop()
	pause := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-save.C:
			b.save()
			continue
		case c := <-b.queue:
			addr, err := b.lookup(ctx, c)
			b.mu.Lock()
			delete(b.pending, c)
			if err == nil {
				b.put(c, addr)
				b.answered++
			} else {
				b.failed++
			}
			b.mu.Unlock()
			wait := b.cfg.Interval
			switch {
			case err == nil:
				pause = 0
			case ctx.Err() != nil:
				return nil
			default:
				pause = min(max(2*pause, b.cfg.Interval), failPause)
				wait = pause
				b.log.Warn("geocoder lookup failed; addresses wait", "url", b.reverse.Redacted(), "err", err, "retry_in", wait)
			}
			// The wait starts when the answer is in, so that the service
			// never sees two requests closer than the interval.
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// put remembers c's address, forgetting the least recently used beyond
// the bound. Called with mu held.
func (b *Book) put(c geocode.Cell, addr string) {
	if e, ok := b.known[c]; ok {
		e.Value.(*entry).addr = addr
		b.order.MoveToFront(e)
	} else {
		b.known[c] = b.order.PushFront(&entry{cell: c, addr: addr})
		for b.order.Len() > b.cfg.CacheSize {
			old := b.order.Back()
			b.order.Remove(old)
			delete(b.known, old.Value.(*entry).cell)
		}
	}
	b.dirty = true
}

// lookup asks the service for c's centre.
func (b *Book) lookup(ctx context.Context, c geocode.Cell) (string, error) {
	b.mu.Lock()
	b.asked++
	b.mu.Unlock()
	lat, lon := c.Center()
	u := *b.reverse
	q := url.Values{}
	q.Set("format", "jsonv2")
	q.Set("lat", strconv.FormatFloat(lat, 'f', 4, 64))
	q.Set("lon", strconv.FormatFloat(lon, 'f', 4, 64))
	q.Set("zoom", "18")
	q.Set("addressdetails", "0")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", b.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")
	resp, err := b.cfg.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return "", fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return "", err
	}
	if len(body) > maxBody {
		return "", fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	return parseReverse(body)
}

// parseReverse reads a jsonv2 reverse answer: its display_name, or ""
// when the service knows no address there ({"error": "Unable to
// geocode"}).
func parseReverse(body []byte) (string, error) {
	var r struct {
		DisplayName *string `json:"display_name"`
		Error       any     `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("not a reverse answer: %w", err)
	}
	if r.DisplayName == nil {
		if r.Error != nil {
			return "", nil // nothing there (the sea): remembered as such
		}
		return "", errors.New("not a reverse answer: no display_name")
	}
	return cleanAddr(*r.DisplayName), nil
}

// cleanAddr keeps an address printable and short: control and format
// characters become spaces, runs of spaces one, at most maxAddr bytes (cut
// at a rune).
func cleanAddr(s string) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > maxAddr {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Stats are the book's counters.
type Stats struct {
	Known, Pending                   int
	Asked, Answered, Failed, Dropped int
}

func (b *Book) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Known: b.order.Len(), Pending: len(b.pending), Asked: b.asked, Answered: b.answered, Failed: b.failed, Dropped: b.dropped}
}

// The file is JSON lines, {"cell":N,"addr":"…"}, most recently used first.
type fileLine struct {
	Cell geocode.Cell `json:"cell"`
	Addr string       `json:"addr"`
}

func (b *Book) load() error {
	f, err := os.Open(b.cfg.File)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(io.LimitReader(f, int64(b.cfg.CacheSize)*(maxAddr*6+64)))
	sc.Buffer(make([]byte, 4096), maxAddr*6+64)
	var lines []fileLine
	for sc.Scan() && len(lines) < b.cfg.CacheSize {
		var l fileLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue // a damaged line: forgotten
		}
		lines = append(lines, l)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(lines) - 1; i >= 0; i-- { // oldest first, so the first line ends most recent
		b.put(lines[i].Cell, cleanAddr(lines[i].Addr))
	}
	b.dirty = false
	return sc.Err()
}

// save writes the cache to the file (a new file renamed over the old).
func (b *Book) save() {
	if b.cfg.File == "" {
		return
	}
	b.mu.Lock()
	if !b.dirty {
		b.mu.Unlock()
		return
	}
	lines := make([]fileLine, 0, b.order.Len())
	for e := b.order.Front(); e != nil; e = e.Next() {
		en := e.Value.(*entry)
		lines = append(lines, fileLine{Cell: en.cell, Addr: en.addr})
	}
	b.dirty = false
	b.mu.Unlock()
	err := writeLines(b.cfg.File, lines)
	if err != nil {
		b.log.Warn("geocoder cache not saved (addresses are asked for again after a restart)", "file", b.cfg.File, "err", err)
	}
}

func writeLines(name string, lines []fileLine) error {
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
