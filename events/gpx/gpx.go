// Package gpx reads GPX files (1.0 and 1.1) as a stream and turns each
// track and route point into an OwnTracks location event for one device,
// as if the phone had published it at the point's time.
package gpx

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tracker/events"
)

// Reasons a point is skipped.
const (
	ReasonNoTime = "no time"         // the point has no <time>
	ReasonTime   = "bad time"        // <time> is not an ISO 8601 time
	ReasonCoords = "bad coordinates" // lat/lon missing, not numbers or out of range
)

// Device is whose points they are: the events go to
// owntracks/<User>/<Device> with tracker id TID.
type Device struct {
	User, Device string
	// TID is the tracker id put in each location; default: the last two
	// characters of Device, as the OwnTracks apps do.
	TID string
}

// Topic is the device's base topic.
func (d Device) Topic() string { return "owntracks/" + d.User + "/" + d.Device }

func (d Device) tid() string {
	if d.TID != "" {
		return d.TID
	}
	r := []rune(d.Device)
	if len(r) > 2 {
		r = r[len(r)-2:]
	}
	return string(r)
}

// Record is one point as an event.
type Record struct {
	Event events.Event
	Line  int   // line of the point's start tag
	Done  int64 // bytes of the input read so far
}

// Problem is a point that was skipped, and why.
type Problem struct {
	Line   int
	Reason string
	Detail string
}

func (p Problem) String() string {
	if p.Detail == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Reason, p.Detail)
}

// Stats counts what was in the file.
type Stats struct {
	Tracks, Segments, Routes int
	Points                   int // trkpt and rtept, good and bad
	Waypoints                int // wpt: places, not positions of the device; not imported
}

// point is a trkpt/rtept being read.
type point struct {
	kind     string
	line     int
	lat, lon string
	ele      string
	time     string
	hasTime  bool
	inChild  string // the child element whose text is being read
	childBuf strings.Builder
}

// Read calls fn with a location event for each trkpt and rtept of r, in
// file order, and problem for each point it skips. It stops at the first
// error of fn, when ctx ends, or at XML it cannot read (returned with its
// line).
func Read(ctx context.Context, r io.Reader, dev Device, fn func(Record) error, problem func(Problem)) (Stats, error) {
	var st Stats
	d := xml.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	d.CharsetReader = charsetReader
	var p *point
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		tok, err := d.Token()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			line, _ := d.InputPos()
			return st, fmt.Errorf("gpx: line %d: %w", line, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch name := t.Name.Local; {
			case p != nil:
				if name == "ele" || name == "time" {
					p.inChild = name
					p.childBuf.Reset()
				}
			case name == "trk":
				st.Tracks++
			case name == "trkseg":
				st.Segments++
			case name == "rte":
				st.Routes++
			case name == "wpt":
				st.Waypoints++
			case name == "trkpt" || name == "rtept":
				line, _ := d.InputPos()
				p = &point{kind: name, line: line}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "lat":
						p.lat = a.Value
					case "lon":
						p.lon = a.Value
					}
				}
			}
		case xml.CharData:
			if p != nil && p.inChild != "" {
				p.childBuf.Write(t)
			}
		case xml.EndElement:
			if p == nil {
				continue
			}
			switch t.Name.Local {
			case p.inChild:
				switch p.inChild {
				case "ele":
					p.ele = p.childBuf.String()
				case "time":
					p.time, p.hasTime = p.childBuf.String(), true
				}
				p.inChild = ""
			case p.kind:
				st.Points++
				e, prob := p.event(dev)
				line := p.line
				p = nil
				if prob != nil {
					problem(*prob)
					continue
				}
				if err := fn(Record{Event: e, Line: line, Done: d.InputOffset()}); err != nil {
					return st, err
				}
			}
		}
	}
}

// event turns a complete point into a location event.
func (p *point) event(dev Device) (events.Event, *Problem) {
	bad := func(reason, detail string) (events.Event, *Problem) {
		return events.Event{}, &Problem{Line: p.line, Reason: reason, Detail: detail}
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(p.lat), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(p.lon), 64)
	switch {
	case err1 != nil || err2 != nil:
		return bad(ReasonCoords, fmt.Sprintf("lat=%q lon=%q", p.lat, p.lon))
	case math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180:
		return bad(ReasonCoords, fmt.Sprintf("lat=%v lon=%v", lat, lon))
	}
	if !p.hasTime || strings.TrimSpace(p.time) == "" {
		return bad(ReasonNoTime, "")
	}
	t, err := parseTime(strings.TrimSpace(p.time))
	if err != nil {
		return bad(ReasonTime, fmt.Sprintf("%q", p.time))
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"_type":"location","lat":`...)
	b = strconv.AppendFloat(b, lat, 'f', -1, 64)
	b = append(b, `,"lon":`...)
	b = strconv.AppendFloat(b, lon, 'f', -1, 64)
	b = append(b, `,"tst":`...)
	b = strconv.AppendInt(b, t.Unix(), 10)
	if ele, err := strconv.ParseFloat(strings.TrimSpace(p.ele), 64); err == nil && !math.IsNaN(ele) && !math.IsInf(ele, 0) && math.Abs(ele) < 1e6 {
		b = append(b, `,"alt":`...)
		b = strconv.AppendInt(b, int64(math.Round(ele)), 10)
	}
	b = append(b, `,"tid":`...)
	tid, _ := json.Marshal(dev.tid()) // a string always marshals
	b = append(b, tid...)
	b = append(b, '}')
	return events.Event{Received: t, Topic: dev.Topic(), Payload: b, Source: events.SourceGPX}, nil
}

// parseTime reads a GPX time (xsd:dateTime, UTC by the GPX schema's
// recommendation when it carries no zone).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse("2006-01-02T15:04:05.999999999", s); err2 != nil {
			return t, err
		}
	}
	t = t.UTC()
	if y := t.Year(); y < 1970 || y > 2200 {
		return t, fmt.Errorf("year %d", y)
	}
	return t, nil
}

// charsetReader lets the decoder read GPX files declared as Latin-1 or
// ASCII (older GPS software writes them); everything else must be UTF-8.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii":
		return &latin1Reader{r: bufio.NewReader(r)}, nil
	}
	return nil, fmt.Errorf("gpx: unsupported encoding %q (convert the file to UTF-8)", charset)
}

// latin1Reader turns ISO 8859-1 bytes into UTF-8.
type latin1Reader struct {
	r       *bufio.Reader
	pending []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.pending) > 0 {
			k := copy(p[n:], l.pending)
			l.pending = l.pending[k:]
			n += k
			continue
		}
		c, err := l.r.ReadByte()
		if err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		if c < utf8.RuneSelf {
			p[n] = c
			n++
			continue
		}
		l.pending = utf8.AppendRune(nil, rune(c))
	}
	return n, nil
}
