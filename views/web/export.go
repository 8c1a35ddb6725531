package web

import (
	"bytes"
	"encoding/xml"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tracker/projections"
	"tracker/views/web/internal/httpx"
)

// The downloads of a history range. Each is written while the range is
// read: memory stays flat however many points it holds.

func (s *Server) exportGPX(w http.ResponseWriter, r *http.Request) {
	s.export(w, r, &gpxTrack{})
}

func (s *Server) exportGeoJSON(w http.ResponseWriter, r *http.Request) {
	s.export(w, r, &geoJSONTrack{})
}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	s.export(w, r, &csvTrack{})
}

// trackFormat writes one download format.
type trackFormat interface {
	ext() string
	contentType() string
	begin(b *httpx.BufWriter, t trackInfo)
	point(b *httpx.BufWriter, p projections.Point)
	end(b *httpx.BufWriter)
}

// trackInfo describes the track for the file's header.
type trackInfo struct {
	Name     string // the friend's display name
	User     string
	Device   string
	From, To time.Time
	Created  time.Time
}

// export streams a friend's points in a range as a file download.
func (s *Server) export(w http.ResponseWriter, r *http.Request, f trackFormat) {
	id, ok := s.friendParam(w, r)
	if !ok {
		return
	}
	from, to, err := s.rangeOf(r.URL.Query())
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	fv, _ := s.proj(r).Friend(id)
	info := trackInfo{Name: fv.DisplayName(), User: fv.User, Device: fv.Device, From: from, To: to, Created: s.now()}

	h := w.Header()
	h.Set("Content-Type", f.contentType())
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{
		"filename": exportFilename(fv.User, fv.Device, from.In(info.Created.Location()), to.In(info.Created.Location()), f.ext()),
	}))
	h.Set("X-Content-Type-Options", "nosniff")
	cw := &httpx.CountWriter{W: w}
	bw := httpx.NewBufWriter(cw)
	f.begin(bw, info)
	err = httpx.EachPoint(r.Context(), s.proj(r), id, from.Unix(), to.Unix(), func(p projections.Point) error {
		f.point(bw, p)
		return bw.Err()
	})
	if err != nil {
		if bw.Err() == nil { // else the client went away
			httpx.FailMid(s.Logger, w, r, cw.N, "the history of "+string(id), err)
		}
		return
	}
	f.end(bw)
	_ = bw.Flush() // an error here means the client went away
}

func exportFilename(user, device string, from, to time.Time, ext string) string {
	date := from.Format("2006-01-02")
	if last := to.Add(-time.Second).Format("2006-01-02"); last != date {
		date += "_" + last
	}
	return safeName(user, "friend") + "-" + safeName(device, "device") + "-" + date + "." + ext
}

// safeName keeps letters, digits, '.', '_' and '-' of s (ASCII only),
// turns runs of anything else into one '_', and caps the length.
func safeName(s, fallback string) string {
	var b strings.Builder
	gap := false
	for _, c := range s {
		ok := c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.')
		switch {
		case ok:
			b.WriteRune(c)
			gap = false
		case !gap && b.Len() > 0:
			b.WriteByte('_')
			gap = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	out := strings.Trim(b.String(), "._-")
	if out == "" {
		return fallback
	}
	return out
}

// GPX 1.1: one track, one segment, a trkpt per point.
type gpxTrack struct{ httpx.GPXPoints }

func (*gpxTrack) ext() string         { return "gpx" }
func (*gpxTrack) contentType() string { return "application/gpx+xml" }

func (g *gpxTrack) begin(b *httpx.BufWriter, t trackInfo) {
	name := xmlText(t.Name + " (" + t.User + "/" + t.Device + ")")
	b.WriteString(xml.Header)
	b.WriteString(`<gpx version="1.1" creator="tracker" xmlns="http://www.topografix.com/GPX/1/1">` + "\n")
	b.WriteString("<metadata><name>" + name + "</name><desc>" +
		xmlText(t.From.UTC().Format(time.RFC3339)+" to "+t.To.UTC().Format(time.RFC3339)) +
		"</desc><time>" + t.Created.UTC().Format(time.RFC3339) + "</time></metadata>\n")
	b.WriteString("<trk><name>" + name + "</name><trkseg>\n")
}

func (g *gpxTrack) point(b *httpx.BufWriter, p projections.Point) { g.Point(b, p) }

func (g *gpxTrack) end(b *httpx.BufWriter) { g.End(b) }

// xmlText escapes s for XML character data and attributes; characters XML
// does not allow become U+FFFD.
func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // a bytes.Buffer does not fail
	return b.String()
}

// GeoJSON: a FeatureCollection of Point features in tst order.
type geoJSONTrack struct {
	buf []byte
	n   int
}

func (*geoJSONTrack) ext() string         { return "geojson" }
func (*geoJSONTrack) contentType() string { return "application/geo+json" }

func (g *geoJSONTrack) begin(b *httpx.BufWriter, t trackInfo) {
	b.WriteString(`{"type":"FeatureCollection","features":[`)
}

func (g *geoJSONTrack) point(b *httpx.BufWriter, p projections.Point) {
	o := g.buf[:0]
	if g.n > 0 {
		o = append(o, ',')
	}
	g.n++
	o = append(o, "\n"+`{"type":"Feature","geometry":{"type":"Point","coordinates":[`...)
	o = strconv.AppendFloat(o, p.Lon, 'f', -1, 64)
	o = append(o, ',')
	o = strconv.AppendFloat(o, p.Lat, 'f', -1, 64)
	o = append(o, `]},"properties":{"tst":`...)
	o = strconv.AppendInt(o, p.Tst, 10)
	o = append(o, `,"time":"`...)
	o = p.Time().AppendFormat(o, time.RFC3339)
	o = append(o, `","acc":`...)
	o = strconv.AppendInt(o, int64(p.Acc), 10)
	o = append(o, `,"vel":`...)
	o = strconv.AppendInt(o, int64(p.Vel), 10)
	o = append(o, `,"batt":`...)
	o = strconv.AppendInt(o, int64(p.Batt), 10)
	o = append(o, `,"t":`...)
	o = appendJSONString(o, p.Trigger)
	o = append(o, "}}"...)
	b.Write(o)
	g.buf = o
}

func (g *geoJSONTrack) end(b *httpx.BufWriter) { b.WriteString("\n]}\n") }

// appendJSONString appends s as a JSON string, escaped as encoding/json
// does (HTML-sensitive characters too); invalid UTF-8 becomes U+FFFD.
func appendJSONString(o []byte, s string) []byte {
	const hex = "0123456789abcdef"
	o = append(o, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				o = append(o, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				o = append(o, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				o = append(o, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			o = append(o, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			o = append(o, `\u202`...)
			o = append(o, hex[r&0xf])
		default:
			o = append(o, s[i:i+size]...)
		}
		i += size
	}
	return append(o, '"')
}

// CSV with a header row; text fields are quoted when needed and guarded
// against spreadsheet formulas.
type csvTrack struct{ buf []byte }

func (*csvTrack) ext() string         { return "csv" }
func (*csvTrack) contentType() string { return "text/csv; charset=utf-8" }

func (c *csvTrack) begin(b *httpx.BufWriter, t trackInfo) {
	b.WriteString("time,tst,lat,lon,acc,alt,vel,cog,batt,conn,trigger,seq\n")
}

func (c *csvTrack) point(b *httpx.BufWriter, p projections.Point) {
	o := p.Time().AppendFormat(c.buf[:0], time.RFC3339)
	o = append(o, ',')
	o = strconv.AppendInt(o, p.Tst, 10)
	o = append(o, ',')
	o = strconv.AppendFloat(o, p.Lat, 'f', -1, 64)
	o = append(o, ',')
	o = strconv.AppendFloat(o, p.Lon, 'f', -1, 64)
	for _, v := range [...]int{p.Acc, p.Alt, p.Vel, p.Cog, p.Batt} {
		o = append(o, ',')
		o = strconv.AppendInt(o, int64(v), 10)
	}
	o = append(o, ',')
	o = appendCSVText(o, p.Conn)
	o = append(o, ',')
	o = appendCSVText(o, p.Trigger)
	o = append(o, ',')
	o = strconv.AppendUint(o, p.Seq, 10)
	o = append(o, '\n')
	b.Write(o)
	c.buf = o
}

func (c *csvTrack) end(b *httpx.BufWriter) {}

// appendCSVText appends a text field: a leading character a spreadsheet
// would read as a formula gets a "'" in front, and the field is quoted when
// it holds a comma, quote or line break.
func appendCSVText(o []byte, s string) []byte {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(o, s...)
	}
	o = append(o, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			o = append(o, '"')
		}
		o = append(o, s[i])
	}
	return append(o, '"')
}
