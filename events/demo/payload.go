package demo

import (
	"encoding/json"
	"math"
)

// Message is one MQTT publish of a simulated phone.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// The OwnTracks JSON the phones send (protocol §2). Field order follows
// the booklet's examples.

type locationJSON struct {
	Type      string   `json:"_type"`
	TID       string   `json:"tid"`
	Lat       float64  `json:"lat"`
	Lon       float64  `json:"lon"`
	Tst       int64    `json:"tst"`
	Acc       int      `json:"acc"`
	Vel       int      `json:"vel"`
	Cog       int      `json:"cog,omitempty"`
	Batt      int      `json:"batt"`
	BS        int      `json:"bs"`
	Conn      string   `json:"conn"`
	T         string   `json:"t,omitempty"`
	InRegions []string `json:"inregions"`
	InRIDs    []string `json:"inrids"`
}

type transitionJSON struct {
	Type  string  `json:"_type"`
	Event string  `json:"event"`
	Desc  string  `json:"desc"`
	RID   string  `json:"rid"`
	Wtst  int64   `json:"wtst"`
	Tst   int64   `json:"tst"`
	Lat   float64 `json:"lat"`
	Lon   float64 `json:"lon"`
	Acc   int     `json:"acc"`
	T     string  `json:"t"`
	TID   string  `json:"tid"`
}

type waypointJSON struct {
	Type string  `json:"_type"`
	Desc string  `json:"desc"`
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
	Rad  int     `json:"rad"`
	Tst  int64   `json:"tst"`
	RID  string  `json:"rid"`
}

type waypointsJSON struct {
	Type      string         `json:"_type"`
	Waypoints []waypointJSON `json:"waypoints"`
	Creator   string         `json:"_creator"`
}

type cardJSON struct {
	Type string `json:"_type"`
	TID  string `json:"tid"`
	Name string `json:"name"`
	Face string `json:"face,omitempty"`
}

type lwtJSON struct {
	Type string `json:"_type"`
	Tst  int64  `json:"tst"`
}

// cmdJSON is what the phones read from their …/cmd topic.
type cmdJSON struct {
	Type   string `json:"_type"`
	Action string `json:"action"`
}

// mustJSON marshals the payload types above, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("demo: " + err.Error())
	}
	return b
}

// coord rounds a coordinate to six decimals (~10 cm), as the apps do.
func coord(x float64) float64 { return math.Round(x*1e6) / 1e6 }
