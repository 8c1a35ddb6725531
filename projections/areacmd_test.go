package projections_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
)

// areaCommands is the fixture table of admin payloads, shared by the parser
// test and the fuzz seeds. wantErr is a substring of the error; "" means
// valid.
var areaCommands = []struct {
	name    string
	payload string
	wantErr string
}{
	{"circle", `{"_type":"area","action":"define","name":"Gym","center":{"lat":51.5,"lon":-0.12},"radius":75}`, ""},
	{"polygon", `{"_type":"area","action":"define","name":"Park","polygon":[{"lat":51.5,"lon":-0.1},{"lat":51.6,"lon":-0.1},{"lat":51.6,"lon":0}]}`, ""},
	{"polygon over the antimeridian", `{"_type":"area","action":"define","name":"Dateline","polygon":[{"lat":-10,"lon":170},{"lat":-10,"lon":-170},{"lat":10,"lon":-170},{"lat":10,"lon":180}]}`, ""},
	{"remove", `{"_type":"area","action":"remove","name":"Gym"}`, ""},
	{"remove ignores geometry", `{"_type":"area","action":"remove","name":"Gym","radius":-1}`, ""},
	{"name of 100 characters", `{"_type":"area","action":"remove","name":"` + strings.Repeat("é", 100) + `"}`, ""},
	{"largest radius", `{"_type":"area","action":"define","name":"Region","center":{"lat":0,"lon":0},"radius":100000}`, ""},
	{"markup in the name is just text", `{"_type":"area","action":"define","name":"<b>Gym</b>","center":{"lat":0,"lon":0},"radius":1}`, ""},

	{"not JSON", `{"_type":"area",`, "not valid JSON"},
	{"a JSON array", `[{"_type":"area"}]`, "not valid JSON"},
	{"null", `null`, `_type is ""`},
	{"wrong _type", `{"_type":"location","action":"remove","name":"Gym"}`, `_type is "location"`},
	{"no name", `{"_type":"area","action":"remove"}`, "a name is required"},
	{"blank name", `{"_type":"area","action":"remove","name":" \t\u00a0"}`, "a name is required"},
	{"name too long", `{"_type":"area","action":"remove","name":"` + strings.Repeat("x", 101) + `"}`, "at most 100 characters"},
	{"rename", `{"_type":"area","action":"rename","name":"Gym","to":"Fitness"}`, ""},
	{"rename with a new shape", `{"_type":"area","action":"rename","name":"Gym","to":"Fitness","polygon":[{"lat":0,"lon":0},{"lat":1,"lon":0},{"lat":1,"lon":1}]}`, ""},
	{"rename without the new name", `{"_type":"area","action":"rename","name":"Gym","to":" "}`, "needs the new name"},
	{"rename to a name too long", `{"_type":"area","action":"rename","name":"Gym","to":"` + strings.Repeat("x", 101) + `"}`, "at most 100 characters"},
	{"rename with half a circle", `{"_type":"area","action":"rename","name":"Gym","to":"Fitness","radius":5}`, "either a centre and radius or a polygon"},
	{"rename with a bad shape", `{"_type":"area","action":"rename","name":"Gym","to":"Fitness","center":{"lat":0,"lon":0},"radius":-5}`, "out of range"},
	{"unknown action", `{"_type":"area","action":"move","name":"Gym"}`, `action is "move"`},
	{"no geometry", `{"_type":"area","action":"define","name":"Gym"}`, "either a centre and radius or a polygon"},
	{"circle and polygon", `{"_type":"area","action":"define","name":"Gym","center":{"lat":0,"lon":0},"radius":5,"polygon":[{"lat":0,"lon":0},{"lat":1,"lon":0},{"lat":1,"lon":1}]}`, "either a centre and radius or a polygon"},
	{"zero radius", `{"_type":"area","action":"define","name":"Gym","center":{"lat":0,"lon":0}}`, "radius 0 m is out of range"},
	{"negative radius", `{"_type":"area","action":"define","name":"Gym","center":{"lat":0,"lon":0},"radius":-5}`, "out of range"},
	{"radius too large", `{"_type":"area","action":"define","name":"Gym","center":{"lat":0,"lon":0},"radius":100000.5}`, "out of range"},
	{"centre latitude out of range", `{"_type":"area","action":"define","name":"Gym","center":{"lat":91,"lon":0},"radius":5}`, "centre latitude 91"},
	{"centre longitude out of range", `{"_type":"area","action":"define","name":"Gym","center":{"lat":0,"lon":-180.5},"radius":5}`, "centre longitude -180.5"},
	{"polygon of two points", `{"_type":"area","action":"define","name":"Line","polygon":[{"lat":0,"lon":0},{"lat":1,"lon":1}]}`, "needs 3 to 1000 points, got 2"},
	{"polygon of too many points", `{"_type":"area","action":"define","name":"Big","polygon":[` + strings.TrimSuffix(strings.Repeat(`{"lat":1,"lon":1},`, 1001), ",") + `]}`, "got 1001"},
	{"polygon point out of range", `{"_type":"area","action":"define","name":"Park","polygon":[{"lat":0,"lon":0},{"lat":1,"lon":0},{"lat":1,"lon":200}]}`, "polygon point 3 longitude 200"},
	{"radius as a string", `{"_type":"area","action":"define","name":"Gym","center":{"lat":0,"lon":0},"radius":"75"}`, "not valid JSON"},
}

func TestParseAreaCommand(t *testing.T) {
	for _, tt := range areaCommands {
		t.Run(tt.name, func(t *testing.T) {
			c, err := projections.ParseAreaCommand([]byte(tt.payload))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q (parsed %+v)", tt.wantErr, c)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to say %q", err, tt.wantErr)
			}
			if err == nil {
				checkAreaCommand(t, c)
			}
		})
	}
}

func TestServerAreaID(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"lower case", "Gym", "s:gym"},
		{"spaces trimmed", "  Gym \t", "s:gym"},
		{"inner spaces kept", "Big Park", "s:big park"},
		{"non-ASCII", "Übungsplatz", "s:übungsplatz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := projections.ServerAreaID(tt.in); got != tt.want {
				t.Errorf("ServerAreaID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// checkAreaCommand is what every accepted command satisfies: it validates,
// it has a name, and it survives a round trip through JSON (which is how
// the admin API writes it to the log).
func checkAreaCommand(t *testing.T, c projections.AreaCommand) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("parsed without error but Validate says %v", err)
	}
	if strings.TrimSpace(c.Name) == "" {
		t.Fatalf("parsed a command without a name: %+v", c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	c2, err := projections.ParseAreaCommand(b)
	if err != nil {
		t.Fatalf("re-encoded command %s is rejected: %v", b, err)
	}
	if projections.ServerAreaID(c2.Name) != projections.ServerAreaID(c.Name) || c2.Action != c.Action || c2.To != c.To ||
		len(c2.Polygon) != len(c.Polygon) || c2.Radius != c.Radius {
		t.Fatalf("round trip changed the command: %+v -> %+v", c, c2)
	}
}

// FuzzParseAreaCommand: the parser never panics, and what it accepts is
// valid, named, and folds without panicking.
func FuzzParseAreaCommand(f *testing.F) {
	for _, tt := range areaCommands {
		f.Add([]byte(tt.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := projections.ParseAreaCommand(payload)
		if err != nil {
			return
		}
		checkAreaCommand(t, c)
		// Fold it with someone around, the way the projector would.
		s := projections.NewState()
		evs := []events.Event{
			loc(alice, t0, inGym, nil),
			// A rename needs the area it renames.
			defineCircle(t0+5, c.Name, gym, gymRadius),
			{Topic: projections.AreaTopic, Payload: payload, Source: events.SourceAdmin, Received: time.Unix(t0+10, 0)},
			loc(alice, t0+20, paris, nil),
		}
		for i, e := range evs {
			e.Seq = uint64(i + 1)
			in := projections.Decode(owntracks.Decoder{}, e)
			if in.Err != nil {
				t.Fatalf("event %d: %v", i+1, in.Err)
			}
			projections.Apply(s, in, projections.NewChanges())
		}
		if c.Action != projections.AreaRemove {
			if _, ok := s.Areas[projections.ServerAreaID(c.Target())]; !ok {
				t.Fatalf("%s: area %q missing from %v", c.Action, c.Target(), s.Areas)
			}
		}
		if c.Action == projections.AreaRename && projections.ServerAreaID(c.To) != projections.ServerAreaID(c.Name) {
			if _, ok := s.Areas[projections.ServerAreaID(c.Name)]; ok || len(s.Areas) != 1 {
				t.Fatalf("rename %q to %q left %v", c.Name, c.To, s.Areas)
			}
		}
		_ = fmt.Sprint(s.AreaViews(), s.FriendViews())
	})
}
