package projections_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/geo"
)

// t0 is the fixtures' epoch: the protocol note's example tst
// (2024-06-10T06:13:20Z). Times below are offsets from it.
const t0 = 1_718_000_000

// The fixture devices.
const (
	alice  projections.DeviceID = "alice/phone"
	aliceT projections.DeviceID = "alice/tablet"
	bob    projections.DeviceID = "bob/phone"
)

// The fixture places. gym is a server circle (radius gymRadius); home and
// work are alice's phone regions; paris is far from all of them.
var (
	gym       = geo.Point{Lat: 51.5072, Lon: -0.1276}
	gymRadius = 100.0
	inGym     = north(gym, 50)
	home      = geo.Point{Lat: 52.52, Lon: 13.405}
	homeRad   = 150
	inHome    = north(home, 20)
	work      = geo.Point{Lat: 52.50, Lon: 13.30}
	workRad   = 200
	paris     = geo.Point{Lat: 48.8566, Lon: 2.3522}
	// dateline is a box over the antimeridian, 170°E to 170°W, 10°S to 10°N.
	dateline = []geo.Point{{Lat: -10, Lon: 170}, {Lat: -10, Lon: -170}, {Lat: 10, Lon: -170}, {Lat: 10, Lon: 170}}
)

// Area ids as the fold names them.
const (
	gymID  = "s:gym"
	homeID = "p:alice/phone:rid:h1"
	workID = "p:alice/phone:rid:w1"
)

// north returns the point about m metres north of p.
func north(p geo.Point, m float64) geo.Point {
	return geo.Point{Lat: p.Lat + m/111_195, Lon: p.Lon}
}

// pngFace is a tiny real PNG, base64 as a card carries it.
var pngFace = func() string {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}()

type kv = map[string]any

// ot builds an OwnTracks payload: _type plus fields, as JSON.
func ot(typ string, fields kv) []byte {
	m := kv{"_type": typ}
	maps.Copy(m, fields)
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// msg is an event from dev's phone on its base topic or a suffix, received
// at recv (Unix seconds).
func msg(dev projections.DeviceID, suffix string, recv int64, payload []byte) events.Event {
	topic := "owntracks/" + string(dev)
	if suffix != "" {
		topic += "/" + suffix
	}
	return events.Event{Topic: topic, Payload: payload, Source: events.SourceEmbedded, Received: time.Unix(recv, 0).UTC()}
}

// loc is a location fix taken at tst and received 5 s later.
func loc(dev projections.DeviceID, tst int64, p geo.Point, extra kv) events.Event {
	f := kv{"lat": p.Lat, "lon": p.Lon, "tst": tst}
	maps.Copy(f, extra)
	return msg(dev, "", tst+5, ot("location", f))
}

// transition is an enter or leave at tst; rid or desc may be "".
func transition(dev projections.DeviceID, tst int64, event, desc, rid string) events.Event {
	f := kv{"event": event, "tst": tst, "t": "c"}
	if desc != "" {
		f["desc"] = desc
	}
	if rid != "" {
		f["rid"] = rid
	}
	return msg(dev, "event", tst+5, ot("transition", f))
}

// region is one waypoint definition (inside a waypoint or waypoints message).
func region(desc, rid string, c geo.Point, rad int) kv {
	f := kv{"desc": desc, "lat": c.Lat, "lon": c.Lon, "rad": rad, "tst": t0 - 86400}
	if rid != "" {
		f["rid"] = rid
	}
	return f
}

func waypoint(dev projections.DeviceID, recv int64, r kv) events.Event {
	return msg(dev, "waypoint", recv, ot("waypoint", r))
}

func waypoints(dev projections.DeviceID, recv int64, rs ...kv) events.Event {
	list := make([]any, 0, len(rs))
	for _, r := range rs {
		w := kv{"_type": "waypoint"}
		maps.Copy(w, r)
		list = append(list, w)
	}
	return msg(dev, "waypoints", recv, ot("waypoints", kv{"waypoints": list, "_creator": "test"}))
}

func card(dev projections.DeviceID, recv int64, fields kv) events.Event {
	e := msg(dev, "info", recv, ot("card", fields))
	e.Retained = true
	return e
}

func lwt(dev projections.DeviceID, recv int64) events.Event {
	return msg(dev, "", recv, ot("lwt", kv{"tst": recv - 3600}))
}

// clearMsg is the empty publish that deletes a retained message.
func clearMsg(dev projections.DeviceID, suffix string, recv int64) events.Event {
	e := msg(dev, suffix, recv, nil)
	e.Retained = true
	return e
}

func raw(topic string, recv int64, payload string) events.Event {
	return events.Event{Topic: topic, Payload: []byte(payload), Source: events.SourceEmbedded, Received: time.Unix(recv, 0).UTC()}
}

func retained(e events.Event) events.Event { e.Retained = true; return e }

// replayed is a retained message an external broker sent on subscribing.
func replayed(e events.Event) events.Event {
	e.Retained, e.Source = true, events.SourceMQTT+":tcp://broker:1883"
	return e
}

// admin is a server area command received at recv.
func admin(recv int64, c projections.AreaCommand) events.Event {
	c.Type = "area"
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return events.Event{Topic: projections.AreaTopic, Payload: b, Source: events.SourceAdmin, Received: time.Unix(recv, 0).UTC()}
}

func defineCircle(recv int64, name string, c geo.Point, radius float64) events.Event {
	return admin(recv, projections.AreaCommand{Action: projections.AreaDefine, Name: name, Center: &c, Radius: radius})
}

func definePolygon(recv int64, name string, ring []geo.Point) events.Event {
	return admin(recv, projections.AreaCommand{Action: projections.AreaDefine, Name: name, Polygon: ring})
}

func removeServerArea(recv int64, name string) events.Event {
	return admin(recv, projections.AreaCommand{Action: projections.AreaRemove, Name: name})
}

// renameServerArea renames from to to; shape, when given, carries the
// new centre and radius or polygon.
func renameServerArea(recv int64, from, to string, shape *projections.AreaCommand) events.Event {
	c := projections.AreaCommand{Action: projections.AreaRename, Name: from, To: to}
	if shape != nil {
		c.Center, c.Radius, c.Polygon = shape.Center, shape.Radius, shape.Polygon
	}
	return admin(recv, c)
}

// run is the outcome of folding a list of events into a fresh state.
type run struct {
	s       *projections.State
	inputs  []projections.Input
	changes []*projections.Changes // one per event
}

// fold decodes each event as the projector does and applies it. Events
// without a Seq get their position in the list (from 1).
func fold(t *testing.T, evs ...events.Event) run {
	t.Helper()
	r := run{s: projections.NewState()}
	for i, e := range evs {
		if e.Seq == 0 {
			e.Seq = uint64(i + 1)
		}
		in := projections.Decode(owntracks.Decoder{}, e)
		ch := projections.NewChanges()
		projections.Apply(r.s, in, ch)
		r.inputs = append(r.inputs, in)
		r.changes = append(r.changes, ch)
	}
	return r
}

func (r run) last() *projections.Changes { return r.changes[len(r.changes)-1] }

func (r run) friend(t *testing.T, id projections.DeviceID) *projections.Friend {
	t.Helper()
	f, ok := r.s.Friends[id]
	if !ok {
		t.Fatalf("no friend %s; friends: %v", id, slices.Sorted(maps.Keys(r.s.Friends)))
	}
	return f
}

// historyKeys is the set of history keys written, as the store keys them.
func (r run) historyKeys() map[string]projections.Point {
	out := map[string]projections.Point{}
	for _, ch := range r.changes {
		for _, h := range ch.History {
			out[fmt.Sprintf("%s@%d#%08x", h.Device, h.Point.Tst, h.Hash)] = h.Point
		}
	}
	return out
}

// timeline renders every area event emitted, in order.
func (r run) timeline() []string {
	var out []string
	for _, ch := range r.changes {
		out = append(out, eventStrings(ch.AreaEvents)...)
	}
	return out
}

func eventStrings(evs []projections.AreaEvent) []string {
	var out []string
	for _, e := range evs {
		s := fmt.Sprintf("%s %s %s %s %+d", e.Event, e.Device, e.Area, e.Origin, e.Tst-t0)
		if e.Late {
			s += " late"
		}
		out = append(out, s)
	}
	slices.Sort(out) // one event's changes come in map order sometimes
	return out
}

// members renders the membership facts, sorted.
func (r run) members() []string {
	var out []string
	for _, m := range r.s.Members {
		in := "out"
		if m.In {
			in = "in"
		}
		out = append(out, fmt.Sprintf("%s %s %s %s since%+d", m.Device, m.Area, m.Origin, in, m.Since-t0))
	}
	slices.Sort(out)
	return out
}

// presences renders query answers compactly.
func presences(ps []projections.Presence) []string {
	var out []string
	for _, p := range ps {
		s := fmt.Sprintf("%s %s phone=%s geometry=%s since%+d", p.Device, p.Area, verdict(p.Phone), verdict(p.Geometry), p.Since-t0)
		if p.Disagree {
			s += " DISAGREE"
		}
		out = append(out, s)
	}
	return out
}

func verdict(b *bool) string {
	switch {
	case b == nil:
		return "-"
	case *b:
		return "in"
	}
	return "out"
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got: %s\nwant: %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}
