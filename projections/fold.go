package projections

import (
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections/geo"
)

// Input is one log event, decoded once for every fold.
type Input struct {
	Event events.Event
	Msg   owntracks.Message // meaningful when Err is nil and Area is nil
	Err   error             // why the event is unusable; such events are skipped
	Area  *AreaCommand      // set for server-side area definitions
	User  *UserCommand      // set for user management events
	Login *LoginRecord      // set for a recorded web login (logins.go)
	// Correction is set for corrections of a device's track.
	Correction *CorrectionCommand
	// Inert is set for events that change no projection: an erased
	// event's placeholder, an erasure's tombstone, a retention policy
	// (erase.go).
	Inert bool
	// Account is set for account events (account.go).
	Account *AccountCommand
	// Notify is set for notification rule events (notify.go).
	Notify *NotifyCommand
	// Share is set for share link events (share.go).
	Share *ShareCommand
	// Push is set for Web Push subscription events (push.go).
	Push *PushCommand
}

// Decode prepares e for Apply. Decisions about time (e.g. "tst too far in
// the future") are made as of the event's arrival, so a replay decides
// exactly as the live run did.
func Decode(d owntracks.Decoder, e events.Event) Input {
	in := Input{Event: e}
	if inert, err := decodeErasure(e); inert || err != nil {
		in.Inert, in.Err = err == nil, err
		return in
	}
	if e.Source == events.SourceAdmin && e.Topic == UserTopic {
		cmd, err := ParseUserCommand(e.Payload)
		if err != nil {
			in.Err = err
		} else {
			in.User = &cmd
		}
		return in
	}
	if e.Source == events.SourceAdmin && e.Topic == CorrectionTopic {
		cmd, err := ParseCorrectionCommand(e.Payload)
		if err != nil {
			in.Err = err
		} else {
			in.Correction = &cmd
		}
		return in
	}
	if e.Source == events.SourceAdmin && e.Topic == LoginTopic {
		l, err := ParseLoginRecord(e.Payload)
		if err != nil {
			in.Err = err
		} else {
			in.Login = &l
		}
		return in
	}
	if e.Source == events.SourceAdmin && e.Topic == AccountTopic {
		cmd, err := ParseAccountCommand(e.Payload)
		if err != nil {
			in.Err = err
		} else {
			in.Account = &cmd
		}
		return in
	}
	if e.Source == events.SourceAdmin && e.Topic == NotifyTopic {
		cmd, err := ParseNotifyCommand(e.Payload)
		if err != nil {
			in.Err = err
		} else {
			in.Notify = &cmd
		}
		return in
	}
	if e.Source == events.SourceAdmin && e.Topic == ShareTopic {
		cmd, err := ParseShareCommand(e.Payload)
		if err != nil {
			in.Err = err
		} else {
			in.Share = &cmd
		}
		return in
	}
	if e.Source == events.SourceAdmin && e.Topic == PushTopic {
		cmd, err := ParsePushCommand(e.Payload)
		if err != nil {
			in.Err = err
		} else {
			in.Push = &cmd
		}
		return in
	}
	if e.Source == events.SourceAdmin {
		cmd, err := ParseAreaCommand(e.Payload)
		if err != nil {
			in.Err = err
		} else {
			in.Area = &cmd
		}
		return in
	}
	in.Msg, in.Err = d.DecodeAt(e.Topic, e.Payload, e.Received)
	return in
}

// State is everything the folds keep between events.
type State struct {
	Friends map[DeviceID]*Friend
	Areas   map[string]*Area
	Members map[MemberKey]*Member
	Users   map[string]*User
	// Issued maps the identity of each admin command applied to the event
	// that applied it, so a repeat of one issue is skipped (issued.go).
	Issued map[string]uint64
	// Rules are the corrections per device ("" for all devices); a
	// device without any has no entry.
	Rules map[DeviceID]*Rules
	// Shares are the share links by id (share.go).
	Shares map[string]*ShareLink

	areaOrder []string // sorted area ids, so the fold's output order is stable
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Friends: map[DeviceID]*Friend{}, Areas: map[string]*Area{}, Members: map[MemberKey]*Member{}, Users: map[string]*User{},
		Issued: map[string]uint64{}, Rules: map[DeviceID]*Rules{}, Shares: map[string]*ShareLink{}}
}

// SortedAreas returns area ids in order. It refreshes a cache, so it
// counts as a write: readers sharing the state use AreaIDs.
func (s *State) SortedAreas() []string {
	if len(s.areaOrder) != len(s.Areas) {
		s.areaOrder = s.areaOrder[:0]
		for id := range s.Areas {
			s.areaOrder = append(s.areaOrder, id)
		}
		slices.Sort(s.areaOrder)
	}
	return s.areaOrder
}

// AreaIDs returns area ids in order, like SortedAreas, without touching
// the cache, so any number of readers may call it at once. The cache is
// current whenever its length matches (the fold empties it on every
// addition or removal).
func (s *State) AreaIDs() []string {
	if len(s.areaOrder) == len(s.Areas) {
		return s.areaOrder
	}
	return slices.Sorted(maps.Keys(s.Areas))
}

func (s *State) setArea(a *Area) {
	if _, ok := s.Areas[a.ID]; !ok {
		s.areaOrder = s.areaOrder[:0] // re-sort on next use
	}
	s.Areas[a.ID] = a
}

func (s *State) deleteArea(id string) {
	delete(s.Areas, id)
	s.areaOrder = s.areaOrder[:0]
}

// Changes collects what Apply changed, for storage and live updates.
type Changes struct {
	Friends    map[DeviceID]bool
	Areas      map[string]bool    // changed or removed (then absent from State)
	Members    map[MemberKey]bool // changed or removed (then absent from State)
	Users      map[string]bool    // changed or removed (then absent from State)
	Issued     map[string]bool    // command identities remembered or forgotten
	History    []HistoryPoint
	AreaEvents []AreaEvent
	// Faces holds the card faces (base64) that changed, "" for a face
	// removed. The state keeps only which event holds a face (FaceSeq);
	// the store keeps the faces, for the answers that send them.
	Faces map[DeviceID]string
	// Rules are the devices whose corrections changed ("" for all).
	Rules map[DeviceID]bool
	// Reposition lists the devices whose current position a correction
	// may have changed: the runner finds each one's newest fix the rules
	// let through in history and applies it (Reposition).
	Reposition []DeviceID
	// Shares are the share links made, ended or forgotten (then absent
	// from State).
	Shares map[string]bool
}

// NewChanges returns an empty change set.
func NewChanges() *Changes {
	return &Changes{Friends: map[DeviceID]bool{}, Areas: map[string]bool{}, Members: map[MemberKey]bool{}, Users: map[string]bool{}, Faces: map[DeviceID]string{},
		Issued: map[string]bool{}, Rules: map[DeviceID]bool{}, Shares: map[string]bool{}}
}

// Reset empties c for reuse.
func (c *Changes) Reset() {
	clear(c.Friends)
	clear(c.Areas)
	clear(c.Members)
	clear(c.Users)
	clear(c.Issued)
	clear(c.Faces)
	clear(c.Rules)
	clear(c.Shares)
	c.Reposition = c.Reposition[:0]
	c.History = c.History[:0]
	c.AreaEvents = c.AreaEvents[:0]
}

// Empty reports whether nothing changed.
func (c *Changes) Empty() bool {
	return len(c.Friends)+len(c.Areas)+len(c.Members)+len(c.Users)+len(c.Issued)+len(c.Faces)+len(c.History)+len(c.AreaEvents)+len(c.Rules)+len(c.Reposition)+len(c.Shares) == 0
}

// Apply folds one event into s and records what changed in ch.
func Apply(s *State, in Input, ch *Changes) {
	e := in.Event
	if e.Redelivery() {
		return // the transport delivered it again: the original was applied
	}
	if in.Area != nil {
		if !issuedBefore(s, in.Area.ID, e.Seq, ch) {
			applyArea(s, e, in.Area, ch)
		}
		return
	}
	if in.User != nil {
		if !issuedBefore(s, in.User.ID, e.Seq, ch) {
			applyUser(s, e, in.User, ch)
		}
		return
	}
	if in.Login != nil {
		applyLogin(s, e, in.Login, ch)
		return
	}
	if in.Correction != nil {
		if !issuedBefore(s, in.Correction.ID, e.Seq, ch) {
			applyCorrection(s, e, in.Correction, ch)
		}
		return
	}
	if in.Account != nil {
		applyAccount(s, e, in.Account, ch)
		return
	}
	if in.Notify != nil {
		if !issuedBefore(s, in.Notify.ID, e.Seq, ch) {
			applyNotify(s, e, in.Notify, ch)
		}
		return
	}
	if in.Share != nil {
		if !issuedBefore(s, in.Share.ID, e.Seq, ch) {
			applyShare(s, e, in.Share, ch)
		}
		return
	}
	if in.Push != nil {
		if !issuedBefore(s, in.Push.ID, e.Seq, ch) {
			applyPush(s, e, in.Push, ch)
		}
		return
	}
	if in.Err != nil || in.Inert || e.Source == events.SourceServer {
		return // unusable (kept in the log with its reason), or our own command
	}
	m := &in.Msg
	dev := MakeDeviceID(m.Topic.User, m.Topic.Device)
	switch m.Kind {
	case owntracks.KindLocation:
		f := touch(s, dev, e, ch)
		applyLocation(s, f, e, m, ch)
	case owntracks.KindTransition:
		touch(s, dev, e, ch)
		applyTransition(s, dev, e, m.Transition, ch)
	case owntracks.KindWaypoint:
		touch(s, dev, e, ch)
		defineWaypoint(s, dev, e, *m.Waypoint, ch)
	case owntracks.KindWaypoints:
		touch(s, dev, e, ch)
		applyWaypoints(s, dev, e, m.Waypoints, ch)
	case owntracks.KindCard:
		f := friend(s, dev, e, ch)
		c := m.Card
		f.Name = c.Name
		if c.TID != "" {
			f.TID = c.TID
		}
		if f.FaceSeq != 0 || c.Face != "" {
			ch.Faces[dev] = c.Face
		}
		f.FaceSeq, f.FaceType = 0, ""
		if c.Face != "" {
			f.FaceSeq, f.FaceType = e.Seq, c.FaceType
		}
	case owntracks.KindLWT:
		f := friend(s, dev, e, ch)
		if f.Online {
			f.Online, f.PresenceAt = false, e.Received
		}
	case owntracks.KindClear:
		f, ok := s.Friends[dev]
		if !ok {
			return
		}
		switch m.Topic.Suffix {
		case "info":
			if f.FaceSeq != 0 {
				ch.Faces[dev] = ""
			}
			f.Name, f.FaceSeq, f.FaceType = "", 0, ""
		case "":
			f.Hidden = true
		default:
			return
		}
		ch.Friends[dev] = true
	case owntracks.KindCmd:
		// Commands go to phones; they say nothing about where anybody is.
	default:
		touch(s, dev, e, ch)
	}
}

// friend returns dev's entry, creating it.
func friend(s *State, dev DeviceID, e events.Event, ch *Changes) *Friend {
	f, ok := s.Friends[dev]
	if !ok {
		user, device := dev.Split()
		f = &Friend{ID: dev, User: user, Device: device, FirstSeen: e.Received, PresenceAt: e.Received}
		s.Friends[dev] = f
	}
	ch.Friends[dev] = true
	return f
}

// touch records that the phone said something: last seen, and online
// unless it is an old retained message an external broker replayed when
// we subscribed. (Over MQTT 3.1.1 a broker sets the retain flag only on
// such replays; the embedded broker and HTTP keep the phone's own flag,
// and phones publish their locations retained.)
func touch(s *State, dev DeviceID, e events.Event, ch *Changes) *Friend {
	f := friend(s, dev, e, ch)
	if e.Received.After(f.LastSeen) {
		f.LastSeen = e.Received
	}
	replay := e.Retained && strings.HasPrefix(e.Source, events.SourceMQTT+":")
	// Imported history (Recorder, GPX) says where a phone was, not that
	// it is connected now.
	imported := events.IsImport(e.Source)
	if !replay && !imported && !f.Online {
		f.Online, f.PresenceAt = true, e.Received
	}
	return f
}

func applyLocation(s *State, f *Friend, e events.Event, m *owntracks.Message, ch *Changes) {
	l := m.Location
	p := pointOf(e, l)
	h := fnv.New32a()
	_, _ = h.Write(e.Payload)
	ch.History = append(ch.History, HistoryPoint{Device: f.ID, Point: p, Hash: h.Sum32()})
	if len(s.Rules) > 0 && s.FilterFor(f.ID).Hides(p) {
		return // corrected away (an accuracy threshold, a hidden range): history only
	}
	if f.Location != nil {
		if p.Tst < f.Location.Tst {
			return // an older fix arriving late: history only
		}
		if same := *f.Location; p.Tst == f.Location.Tst {
			same.Seq = p.Seq
			if same == p {
				return // the same fix again
			}
			// Same second, different fix (e.g. an answer to "Locate
			// now"): the later arrival wins, as replay order is fixed.
		}
	}
	if l.TID != "" {
		f.TID = l.TID // display name falls back to the tracker id
	}
	f.Location, f.Hidden = &p, false
	payload := e.Payload
	if m.Decrypted {
		payload = m.Plaintext
	}
	// The friend's own buffer is reused: readers get copies (FriendView).
	if f.Sent == nil {
		f.Sent = &Sent{}
	}
	f.Sent.Payload = append(f.Sent.Payload[:0], payload...)
	f.Sent.Topic, f.Sent.Received, f.Sent.Vac = e.Topic, e.Received.Unix(), l.Vac
	if l.InRegions != nil || l.InRIDs != nil {
		f.InRegions = slices.Clone(l.InRegions)
		applyInRegions(s, f.ID, e, l, fixOf(p), ch)
	}
	evaluate(s, f.ID, p, ch)
}

// pointOf is the history point of location event e.
func pointOf(e events.Event, l *owntracks.Location) Point {
	return Point{
		Seq: e.Seq, Tst: l.Tst, Lat: l.Lat, Lon: l.Lon, Acc: l.Acc, Alt: l.Alt, Vel: l.Vel, Cog: l.Cog,
		Batt: l.Batt, BS: l.BS, Conn: l.Conn, Trigger: l.Trigger, Absent: l.Absent,
	}
}

// evaluate recomputes geometric membership of dev at its new current
// position for every area that concerns it.
func evaluate(s *State, dev DeviceID, p Point, ch *Changes) {
	for _, id := range s.SortedAreas() {
		a := s.Areas[id]
		if !a.HasGeometry() || !a.AppliesTo(dev) {
			continue
		}
		setMember(s, MemberKey{dev, id, OriginGeometry}, a.Name, a.Contains(p.Geo()), p.Tst, p.Seq, fixOf(p), ch)
	}
}

// applyInRegions takes the phone's own list of regions it is in (sent with
// a location) as its report for each of its regions.
func applyInRegions(s *State, dev DeviceID, e events.Event, l *owntracks.Location, fix FixRef, ch *Changes) {
	for _, id := range s.SortedAreas() {
		a := s.Areas[id]
		if a.Origin != OriginPhone || a.Owner != dev {
			continue
		}
		in := (a.RID != "" && slices.Contains(l.InRIDs, a.RID)) || slices.Contains(l.InRegions, a.Name)
		setMember(s, MemberKey{dev, id, OriginPhone}, a.Name, in, l.Tst, e.Seq, fix, ch)
	}
}

// setMember records one membership fact at time tst. Facts older than
// what is known go to the timeline only (marked late); a fact that flips
// membership adds an enter or leave. fix is the location that made the
// fact (zero for facts of other events).
func setMember(s *State, k MemberKey, areaName string, in bool, tst int64, seq uint64, fix FixRef, ch *Changes) {
	m, ok := s.Members[k]
	if !ok {
		if !in && k.Origin == OriginGeometry {
			return // "not inside" is the default; no record needed
		}
		m = &Member{Device: k.Device, Area: k.Area, Origin: k.Origin, AsOf: tst}
		s.Members[k] = m
		ch.Members[k] = true
		if !in {
			m.Since, m.Seq = tst, seq
			return
		}
	} else if tst < m.AsOf {
		if k.Origin == OriginPhone {
			ch.AreaEvents = append(ch.AreaEvents, areaEvent(k, areaName, in, tst, seq, fix, true))
			return
		}
		// Geometry facts always describe the current position, so they are
		// never stale; a new current fix can still predate what is known
		// (a server area defined after it, a queued fix arriving late).
		// Record the change as of the newest fact, keeping the timeline
		// in order.
		tst = m.AsOf
	}
	if k.Origin == OriginPhone && m.AsOf != tst {
		m.AsOf = tst
		ch.Members[k] = true
	}
	if m.In == in {
		return
	}
	m.In, m.Since, m.Seq, m.AsOf = in, tst, seq, max(m.AsOf, tst)
	ch.Members[k] = true
	ch.AreaEvents = append(ch.AreaEvents, areaEvent(k, areaName, in, tst, seq, fix, false))
}

func areaEvent(k MemberKey, name string, in bool, tst int64, seq uint64, fix FixRef, late bool) AreaEvent {
	ev := "leave"
	if in {
		ev = "enter"
	}
	return AreaEvent{Seq: seq, Tst: tst, Device: k.Device, Area: k.Area, AreaName: name, Event: ev, Origin: k.Origin, Late: late, Fix: fix}
}

// phoneAreaID names a phone's region: by its rid when it has one, else by
// its description (what transitions without rid refer to).
func phoneAreaID(dev DeviceID, rid, desc string) string {
	if rid != "" {
		return "p:" + string(dev) + ":rid:" + rid
	}
	return "p:" + string(dev) + ":desc:" + desc
}

func applyTransition(s *State, dev DeviceID, e events.Event, t *owntracks.Transition, ch *Changes) {
	id := phoneAreaID(dev, t.RID, t.Desc)
	a, ok := s.Areas[id]
	if !ok && t.RID == "" {
		// Old apps: find the region by name among the phone's own.
		for _, aid := range s.SortedAreas() {
			if c := s.Areas[aid]; c.Origin == OriginPhone && c.Owner == dev && c.Name == t.Desc {
				a, ok, id = c, true, aid
				break
			}
		}
	}
	if !ok {
		// A transition for a region we never saw defined: keep it, without
		// geometry, so the phone's report is not lost.
		name := t.Desc
		if name == "" {
			name = t.RID
		}
		a = &Area{ID: id, Name: name, Origin: OriginPhone, Owner: dev, RID: t.RID, Defined: e.Received, Seq: e.Seq}
		s.setArea(a)
		ch.Areas[id] = true
	}
	setMember(s, MemberKey{dev, id, OriginPhone}, a.Name, t.Event == "enter", t.Tst, e.Seq, FixRef{}, ch)
}

func defineWaypoint(s *State, dev DeviceID, e events.Event, w owntracks.Waypoint, ch *Changes) string {
	id := phoneAreaID(dev, w.RID, w.Desc)
	a := &Area{ID: id, Name: w.Desc, Origin: OriginPhone, Owner: dev, RID: w.RID, Defined: e.Received, Seq: e.Seq}
	if (w.Lat != 0 || w.Lon != 0) && w.Rad > 0 {
		a.Center, a.Radius = &geo.Point{Lat: w.Lat, Lon: w.Lon}, float64(w.Rad)
	}
	if a.Name == "" {
		a.Name = w.RID
	}
	s.setArea(a)
	ch.Areas[id] = true
	if f := s.Friends[dev]; f != nil && f.Location != nil && a.HasGeometry() {
		setMember(s, MemberKey{dev, id, OriginGeometry}, a.Name, a.Contains(f.Location.Geo()), f.Location.Tst, e.Seq, fixOf(*f.Location), ch)
	}
	return id
}

// applyWaypoints takes a phone's full export of its regions: any region of
// that phone not in the export was deleted on the phone.
func applyWaypoints(s *State, dev DeviceID, e events.Event, ws []owntracks.Waypoint, ch *Changes) {
	keep := map[string]bool{}
	for _, w := range ws {
		keep[defineWaypoint(s, dev, e, w, ch)] = true
	}
	for _, id := range slices.Clone(s.SortedAreas()) {
		if a := s.Areas[id]; a.Origin == OriginPhone && a.Owner == dev && !keep[id] {
			removeArea(s, id, e.Received.Unix(), e.Seq, ch)
		}
	}
}

// removeArea deletes an area, closing its memberships with leaves.
func removeArea(s *State, id string, tst int64, seq uint64, ch *Changes) {
	a := s.Areas[id]
	for k, m := range s.Members {
		if k.Area != id {
			continue
		}
		if m.In {
			ch.AreaEvents = append(ch.AreaEvents, areaEvent(k, a.Name, false, tst, seq, FixRef{}, false))
		}
		delete(s.Members, k)
		ch.Members[k] = true
	}
	s.deleteArea(id)
	ch.Areas[id] = true
}

// ServerAreaID names an admin-defined area; names are case-insensitive.
func ServerAreaID(name string) string { return "s:" + strings.ToLower(strings.TrimSpace(name)) }

func applyArea(s *State, e events.Event, c *AreaCommand, ch *Changes) {
	id := ServerAreaID(c.Name)
	tst := e.Received.Unix()
	if c.Action == AreaRemove {
		if _, ok := s.Areas[id]; ok {
			removeArea(s, id, tst, e.Seq, ch)
		}
		return
	}
	if c.Action == AreaRename {
		renameArea(s, e, c, ch)
		return
	}
	a := &Area{ID: id, Name: strings.TrimSpace(c.Name), Origin: OriginServer, Center: c.Center, Radius: c.Radius,
		Polygon: c.Polygon, Defined: e.Received, Seq: e.Seq}
	if old := s.Areas[id]; old != nil {
		a.Formerly = old.Formerly
	}
	s.setArea(a)
	ch.Areas[id] = true
	placeEveryone(s, a, tst, e.Seq, ch)
}

// renameArea gives a server area its new name: the memberships move to
// the new id as they are (nobody moved, so no enter or leave), and the
// old id is remembered so its past crossings stay with the area. A
// rename of an area that does not exist, or onto another area's name,
// changes nothing (the API refuses both before they reach the log).
func renameArea(s *State, e events.Event, c *AreaCommand, ch *Changes) {
	oldID, newID := ServerAreaID(c.Name), ServerAreaID(c.To)
	old := s.Areas[oldID]
	if old == nil || old.Origin != OriginServer {
		return
	}
	if _, taken := s.Areas[newID]; taken && newID != oldID {
		return
	}
	a := *old
	a.ID, a.Name, a.Seq = newID, strings.TrimSpace(c.To), e.Seq
	if c.Center != nil || len(c.Polygon) > 0 {
		a.Center, a.Radius, a.Polygon, a.Defined = c.Center, c.Radius, c.Polygon, e.Received
	}
	if newID != oldID {
		a.Formerly = append(slices.DeleteFunc(slices.Clone(old.Formerly), func(f FormerID) bool { return f.ID == newID }),
			FormerID{ID: oldID, Until: e.Received.Unix()})
		for k, m := range s.Members {
			if k.Area != oldID {
				continue
			}
			delete(s.Members, k)
			ch.Members[k] = true
			k.Area, m.Area = newID, newID
			s.Members[k] = m
			ch.Members[k] = true
		}
		s.deleteArea(oldID)
		ch.Areas[oldID] = true
	}
	s.setArea(&a)
	ch.Areas[newID] = true
	placeEveryone(s, &a, e.Received.Unix(), e.Seq, ch)
}

// placeEveryone decides who is inside a (re)defined server area right
// now, as of the definition at tst.
func placeEveryone(s *State, a *Area, tst int64, seq uint64, ch *Changes) {
	ids := make([]DeviceID, 0, len(s.Friends))
	for id := range s.Friends {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, dev := range ids {
		f := s.Friends[dev]
		if f.Location == nil {
			continue
		}
		setMember(s, MemberKey{dev, a.ID, OriginGeometry}, a.Name, a.Contains(f.Location.Geo()), max(tst, f.Location.Tst), seq, fixOf(*f.Location), ch)
	}
}
