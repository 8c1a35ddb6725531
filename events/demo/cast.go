package demo

import (
	"fmt"
	"hash/fnv"
	"image/color"
	"time"
)

// The demo takes place in central Brussels.

// place is somewhere the friends go. Places with a radius are regions on
// the phones of the friends who defined them.
type place struct {
	name   string
	at     latLon
	radius float64 // m; 0 for places nobody defined a region for
}

// Shared regions: the same name and coordinates on every phone that has
// them, as when friends set up their apps together.
var (
	office = place{"Office", latLon{50.84275, 4.38120}, 150} // Rond-point Schuman
	gym    = place{"Gym", latLon{50.83560, 4.36830}, 80}     // Place Fernand Cocq
	park   = place{"Park", latLon{50.84430, 4.36460}, 200}   // Parc de Bruxelles
)

// errands are places without regions: visiting them moves people around
// the map without transitions.
var errands = []place{
	{"Grand-Place", latLon{50.84676, 4.35236}, 0},
	{"Cinquantenaire", latLon{50.84040, 4.39250}, 0},
	{"Gare du Midi", latLon{50.83570, 4.33610}, 0},
}

// friend is one simulated phone's owner.
type friend struct {
	user, device string // topic levels
	name, tid    string // card
	face         color.RGBA
	hasFace      bool
	home         latLon
	shared       []place // regions besides Home
	start        place   // where the day begins
	startDwell   time.Duration
	first        place // the first trip's destination; zero: drawn like the others
}

// homeRadius is every Home region's radius.
const homeRadius = 100

// cast returns the five friends. Start places, first dwell times and
// Anna's first trip are fixed (not drawn from the seed) so every run
// shows, within seconds, someone leaving home and someone staying at a
// shared place.
func cast() []friend {
	return []friend{
		{
			user: "anna", device: "iphone", name: "Anna Martin", tid: "am",
			face: color.RGBA{0xe0, 0x5d, 0x4f, 0xff}, hasFace: true,
			home:   latLon{50.83020, 4.34560}, // Saint-Gilles
			shared: []place{office, gym},
			first:  office, // drives off at once: a leave within seconds
		},
		{
			user: "ben", device: "pixel", name: "Ben Dubois", tid: "bd",
			home:   latLon{50.82760, 4.37220}, // Flagey
			shared: []place{office, park},
			start:  park, startDwell: 30 * time.Second,
		},
		{
			user: "chloe", device: "galaxy", name: "Chloé Lambert", tid: "cl",
			home:       latLon{50.85080, 4.34780}, // Sainte-Catherine
			shared:     []place{park, gym},
			startDwell: 10 * time.Second,
		},
		{
			user: "dev", device: "iphone", name: "Dev Patel", tid: "dp",
			face: color.RGBA{0x3b, 0x82, 0xc4, 0xff}, hasFace: true,
			home:   latLon{50.83620, 4.38890}, // Etterbeek
			shared: []place{office},
			start:  office, startDwell: 30 * time.Minute,
		},
		{
			user: "emma", device: "pixel", name: "Emma Janssens", tid: "ej",
			home:   latLon{50.86050, 4.37600}, // Schaerbeek
			shared: []place{gym, park},
			start:  gym, startDwell: 5 * time.Minute,
		},
	}
}

// baseTopic is the phone's OwnTracks base topic.
func (f friend) baseTopic() string { return "owntracks/" + f.user + "/" + f.device }

// regionEpoch is when the friends created their regions (wtst / waypoint
// tst): fixed, so payloads depend on the seed and the clock only.
var regionEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Unix()

// regions returns the phone's regions: Home first, then the shared ones.
// Region ids are stable per phone and name, like the apps' random rid.
func (f friend) regions() []region {
	places := append([]place{{"Home", f.home, homeRadius}}, f.shared...)
	out := make([]region, len(places))
	for i, p := range places {
		out[i] = region{desc: p.name, rid: rid(f.baseTopic(), p.name), centre: p.at, radius: p.radius,
			wtst: regionEpoch + int64(i)*3600}
	}
	return out
}

func rid(topic, desc string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(topic + "\x00" + desc))
	return fmt.Sprintf("%06x", h.Sum32()&0xffffff)
}

// startAt is where the friend's day begins: at home unless a start place
// is set.
func (f friend) startAt() latLon {
	if f.start.radius > 0 {
		return f.start.at
	}
	return f.home
}

// Users are the topic levels the simulated phones publish under
// (owntracks/<user>/<device>), for a broker that scopes their login.
func Users() []string {
	var out []string
	for _, f := range cast() {
		out = append(out, f.user)
	}
	return out
}
