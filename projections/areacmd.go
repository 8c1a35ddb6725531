package projections

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"tracker/projections/geo"
)

// AreaTopic is the topic of the admin events that define and remove
// server-side areas (source events.SourceAdmin).
const AreaTopic = "tracker/admin/area"

// Area command actions.
const (
	AreaDefine = "define"
	AreaRemove = "remove"
	// AreaRename gives a server area a new name (To), keeping who is in
	// it, in one event: a crash cannot leave the area half renamed. A
	// shape given with it replaces the area's shape at the same moment.
	AreaRename = "rename"
)

// AreaCommand is the payload of an admin area event: a named circle or
// polygon for everybody, its removal, or its new name.
type AreaCommand struct {
	Type    string      `json:"_type"` // "area"
	Action  string      `json:"action"`
	Name    string      `json:"name"`
	To      string      `json:"to,omitempty"` // the new name, for AreaRename
	Center  *geo.Point  `json:"center,omitempty"`
	Radius  float64     `json:"radius,omitempty"` // m
	Polygon []geo.Point `json:"polygon,omitempty"`
	Issue               // id, issued, by: this command's own identity
}

// Limits on what an area may be.
const (
	MaxAreaName      = 100
	MaxAreaRadius    = 100_000 // m
	MaxPolygonPoints = 1000
)

// Target is the name of the area the command leaves behind: the new name
// after a rename, else the name given.
func (c *AreaCommand) Target() string {
	if c.Action == AreaRename {
		return c.To
	}
	return c.Name
}

// ParseAreaCommand decodes and validates an area command.
func ParseAreaCommand(b []byte) (AreaCommand, error) {
	var c AreaCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("area command: not valid JSON: %w", err)
	}
	return c, c.Validate()
}

// Validate checks a command; its messages are for the person who typed it.
func (c *AreaCommand) Validate() error {
	name := strings.TrimSpace(c.Name)
	switch {
	case c.Type != "area":
		return fmt.Errorf("area command: _type is %q, want \"area\"", c.Type)
	case name == "":
		return fmt.Errorf("area: a name is required")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxAreaName:
		return fmt.Errorf("area name must be valid text of at most %d characters", MaxAreaName)
	}
	hasCircle, hasPolygon := c.Center != nil, len(c.Polygon) > 0
	switch c.Action {
	case AreaRemove:
		return nil
	case AreaDefine:
	case AreaRename:
		to := strings.TrimSpace(c.To)
		switch {
		case to == "":
			return fmt.Errorf("area %q: rename needs the new name (to)", name)
		case !utf8.ValidString(to) || utf8.RuneCountInString(to) > MaxAreaName:
			return fmt.Errorf("area %q: the new name must be valid text of at most %d characters", name, MaxAreaName)
		case !hasCircle && !hasPolygon && c.Radius == 0:
			return nil // the shape stays
		}
	default:
		return fmt.Errorf("area %q: action is %q, want define, rename or remove", name, c.Action)
	}
	return c.validateShape(name, hasCircle, hasPolygon)
}

// validateShape checks the circle or polygon of a definition (or of a
// rename that reshapes).
func (c *AreaCommand) validateShape(name string, hasCircle, hasPolygon bool) error {
	switch {
	case hasCircle == hasPolygon:
		return fmt.Errorf("area %q: give either a centre and radius or a polygon", name)
	case hasCircle:
		if err := checkPoint(*c.Center); err != nil {
			return fmt.Errorf("area %q: centre %w", name, err)
		}
		if !(c.Radius > 0 && c.Radius <= MaxAreaRadius) {
			return fmt.Errorf("area %q: radius %g m is out of range (0, %d]", name, c.Radius, MaxAreaRadius)
		}
	default:
		if len(c.Polygon) < 3 || len(c.Polygon) > MaxPolygonPoints {
			return fmt.Errorf("area %q: a polygon needs 3 to %d points, got %d", name, MaxPolygonPoints, len(c.Polygon))
		}
		for i, p := range c.Polygon {
			if err := checkPoint(p); err != nil {
				return fmt.Errorf("area %q: polygon point %d %w", name, i+1, err)
			}
		}
	}
	return nil
}

func checkPoint(p geo.Point) error {
	switch {
	case math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90:
		return fmt.Errorf("latitude %g is out of range [-90, 90]", p.Lat)
	case math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180:
		return fmt.Errorf("longitude %g is out of range [-180, 180]", p.Lon)
	}
	return nil
}
