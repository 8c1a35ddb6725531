package projections

import (
	"bytes"
	"cmp"
	"slices"
)

// Presence is one device in one area now, merging what the phone reported
// and what the server's geometry says.
type Presence struct {
	Device   DeviceID `json:"device"`
	Area     string   `json:"area"`
	AreaName string   `json:"area_name"`
	Since    int64    `json:"since"` // Unix seconds: the earliest origin that says "in"
	// Phone and Geometry are each origin's verdict; nil when that origin
	// has nothing to say (no phone report; no geometry or no position).
	Phone    *bool `json:"phone,omitempty"`
	Geometry *bool `json:"geometry,omitempty"`
	// Disagree is set when the phone and the geometry say different things.
	Disagree bool `json:"disagree,omitempty"`
}

// In reports whether any origin places the device in the area.
func (p Presence) In() bool {
	return (p.Phone != nil && *p.Phone) || (p.Geometry != nil && *p.Geometry)
}

// presence merges the facts about dev in area a; ok is false when nothing
// places dev there and there is no disagreement to show.
func (s *State) presence(dev DeviceID, a *Area) (Presence, bool) {
	p := Presence{Device: dev, Area: a.ID, AreaName: a.Name}
	since := int64(0)
	note := func(in bool, at int64) {
		if in && (since == 0 || at < since) {
			since = at
		}
	}
	if m, ok := s.Members[MemberKey{dev, a.ID, OriginPhone}]; ok {
		in := m.In
		p.Phone = &in
		note(in, m.Since)
	}
	if a.HasGeometry() && a.AppliesTo(dev) {
		if f := s.Friends[dev]; f != nil && f.Location != nil {
			in := false
			if m, ok := s.Members[MemberKey{dev, a.ID, OriginGeometry}]; ok && m.In {
				in = true
				note(true, m.Since)
			}
			p.Geometry = &in
		}
	}
	p.Since = since
	p.Disagree = p.Phone != nil && p.Geometry != nil && *p.Phone != *p.Geometry
	return p, p.In() || p.Disagree
}

// AreasOf lists the areas dev is in now (and those where the phone and the
// geometry disagree), by area name.
func (s *State) AreasOf(dev DeviceID) []Presence {
	out := []Presence{}
	for _, id := range s.AreaIDs() {
		if p, ok := s.presence(dev, s.Areas[id]); ok {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Presence) int { return cmp.Compare(a.AreaName+a.Area, b.AreaName+b.Area) })
	return out
}

// MembersOf lists who is in area id now (and disagreements), by device.
func (s *State) MembersOf(id string) []Presence {
	a, ok := s.Areas[id]
	if !ok {
		return nil
	}
	devs := make([]DeviceID, 0, len(s.Friends))
	for d := range s.Friends {
		if a.AppliesTo(d) {
			devs = append(devs, d)
		}
	}
	slices.Sort(devs)
	out := []Presence{}
	for _, d := range devs {
		if p, ok := s.presence(d, a); ok {
			out = append(out, p)
		}
	}
	return out
}

// FriendView is a friend with the areas it is in now.
type FriendView struct {
	Friend
	Areas []Presence `json:"areas"`
}

// AreaView is an area with who is in it now.
type AreaView struct {
	Area
	Members []Presence `json:"members"`
}

// FriendViews lists every friend, by id.
func (s *State) FriendViews() []FriendView {
	ids := make([]DeviceID, 0, len(s.Friends))
	for id := range s.Friends {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]FriendView, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.FriendView(id))
	}
	return out
}

// FriendView returns one friend; the zero view when unknown.
func (s *State) FriendView(id DeviceID) FriendView {
	f, ok := s.Friends[id]
	if !ok {
		return FriendView{}
	}
	v := FriendView{Friend: *f, Areas: s.AreasOf(id)}
	if f.Location != nil {
		loc := *f.Location
		v.Location = &loc
	}
	if f.Sent != nil { // the fold reuses its buffer
		sent := *f.Sent
		sent.Payload = bytes.Clone(sent.Payload)
		v.Sent = &sent
	}
	v.InRegions = slices.Clone(f.InRegions)
	return v
}

// AreaViews lists every area with its members, by name.
func (s *State) AreaViews() []AreaView {
	out := make([]AreaView, 0, len(s.Areas))
	for _, id := range s.AreaIDs() {
		a := *s.Areas[id]
		a.Polygon = slices.Clone(a.Polygon)
		out = append(out, AreaView{Area: a, Members: s.MembersOf(id)})
	}
	slices.SortStableFunc(out, func(a, b AreaView) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// The Visible* filters apply a viewer's sharing rule (may) to views: the
// one place that decides, used by the pages, the API and the live stream.

// VisibleFriends keeps the friends may allows.
func VisibleFriends(in []FriendView, may func(DeviceID) bool) []FriendView {
	out := []FriendView{}
	for _, f := range in {
		if may(f.ID) {
			out = append(out, f)
		}
	}
	return out
}

// VisibleAreas drops the regions of phones may hides and, from every
// area, the members it hides.
func VisibleAreas(in []AreaView, may func(DeviceID) bool) []AreaView {
	out := []AreaView{}
	for _, a := range in {
		if a.Owner != "" && !may(a.Owner) {
			continue
		}
		members := []Presence{}
		for _, m := range a.Members {
			if may(m.Device) {
				members = append(members, m)
			}
		}
		a.Members = members
		out = append(out, a)
	}
	return out
}

// VisibleEvents keeps the area events of devices may allows.
func VisibleEvents(in []AreaEvent, may func(DeviceID) bool) []AreaEvent {
	out := []AreaEvent{}
	for _, e := range in {
		if may(e.Device) {
			out = append(out, e)
		}
	}
	return out
}
