package google

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// One decoder per kind of record. Each list element is decoded on its own
// into the struct below (unknown fields are ignored, as Google adds
// fields over time); the struct holds only what becomes an event.

// --- Records.json ---

type recLocation struct {
	LatitudeE7       num           `json:"latitudeE7"`
	LongitudeE7      num           `json:"longitudeE7"`
	Timestamp        when          `json:"timestamp"`
	TimestampMs      when          `json:"timestampMs"`
	Accuracy         num           `json:"accuracy"`
	Altitude         num           `json:"altitude"`
	VerticalAccuracy num           `json:"verticalAccuracy"`
	Velocity         num           `json:"velocity"` // m/s
	Heading          num           `json:"heading"`
	DeviceTag        num           `json:"deviceTag"`
	Activity         []recActivity `json:"activity"`
	Activitys        []recActivity `json:"activitys"` // the 2014 files' spelling
}

type recActivity struct {
	Activity   []typeConfidence `json:"activity"`
	Activities []typeConfidence `json:"activities"`
}

type typeConfidence struct {
	Type       string `json:"type"`
	Confidence num    `json:"confidence"`
}

// location: one element of Records.json's locations.
func (r *reader) location(where string) error {
	var l recLocation
	if ok, err := r.decode(where, &l); !ok {
		r.st.Points++
		return err
	}
	if tag, ok := l.DeviceTag.int(math.MinInt32, math.MaxUint32); ok {
		if _, known := r.st.DeviceTags[tag]; known || len(r.st.DeviceTags) < maxDeviceTags {
			r.st.DeviceTags[tag]++
		}
	}
	p := newPoint(where)
	p.acc, _ = l.Accuracy.int(0, 1e6)
	p.alt, _ = l.Altitude.int(-1e5, 1e5)
	p.vac, _ = l.VerticalAccuracy.int(0, 1e6)
	if _, ok := l.Velocity.int(0, 1000); ok {
		p.vel = int64(math.Round(l.Velocity.v * 3.6)) // m/s to km/h
	}
	if h, ok := l.Heading.int(0, 360); ok {
		p.cog = h % 360
	}
	p.motion = topActivity(append(l.Activity, l.Activitys...))
	at := e7(l.LatitudeE7, l.LongitudeE7)
	if at.wrapped {
		r.st.Wrapped++
	}
	return r.position(p, at, first(l.Timestamp, l.TimestampMs))
}

// topActivity is the most likely activity of the first activity record.
func topActivity(acts []recActivity) string {
	if len(acts) == 0 {
		return ""
	}
	best, conf := "", -1.0
	for _, a := range append(acts[0].Activity, acts[0].Activities...) {
		if a.Confidence.set && a.Confidence.v > conf {
			best, conf = a.Type, a.Confidence.v
		}
	}
	return motionName(best)
}

// --- Semantic Location History ---

type semObject struct {
	PlaceVisit      *semVisit    `json:"placeVisit"`
	ActivitySegment *semActivity `json:"activitySegment"`
}

type semLocation struct {
	LatitudeE7   num    `json:"latitudeE7"`
	LongitudeE7  num    `json:"longitudeE7"`
	PlaceID      string `json:"placeId"`
	Address      string `json:"address"`
	Name         string `json:"name"`
	SemanticType string `json:"semanticType"`
}

type semDuration struct {
	StartTimestamp   when `json:"startTimestamp"`
	StartTimestampMs when `json:"startTimestampMs"`
	EndTimestamp     when `json:"endTimestamp"`
	EndTimestampMs   when `json:"endTimestampMs"`
}

func (d semDuration) start() when { return first(d.StartTimestamp, d.StartTimestampMs) }
func (d semDuration) end() when   { return first(d.EndTimestamp, d.EndTimestampMs) }

type semVisit struct {
	Location                semLocation   `json:"location"`
	Duration                semDuration   `json:"duration"`
	CenterLatE7             num           `json:"centerLatE7"`
	CenterLngE7             num           `json:"centerLngE7"`
	VisitConfidence         num           `json:"visitConfidence"`
	OtherCandidateLocations []semLocation `json:"otherCandidateLocations"`
	SimplifiedRawPath       *rawPath      `json:"simplifiedRawPath"`
	ChildVisits             []semVisit    `json:"childVisits"`
}

type rawPath struct {
	Points []e7Point `json:"points"`
}

type e7Point struct {
	LatE7          num  `json:"latE7"`
	LngE7          num  `json:"lngE7"`
	Timestamp      when `json:"timestamp"`
	TimestampMs    when `json:"timestampMs"`
	AccuracyMeters num  `json:"accuracyMeters"`
}

type semActivity struct {
	StartLocation semLocation `json:"startLocation"`
	EndLocation   semLocation `json:"endLocation"`
	Duration      semDuration `json:"duration"`
	ActivityType  string      `json:"activityType"`
	Activities    []struct {
		ActivityType string `json:"activityType"`
	} `json:"activities"`
	WaypointPath *struct {
		Waypoints []e7Point `json:"waypoints"`
	} `json:"waypointPath"`
	SimplifiedRawPath *rawPath `json:"simplifiedRawPath"`
}

// timelineObject: one element of a Semantic Location History month.
func (r *reader) timelineObject(where string) error {
	var o semObject
	if ok, err := r.decode(where, &o); !ok {
		return err
	}
	switch {
	case o.PlaceVisit != nil:
		return r.placeVisit(where+".placeVisit", o.PlaceVisit)
	case o.ActivitySegment != nil:
		return r.activitySegment(where+".activitySegment", o.ActivitySegment)
	}
	r.problem(Problem{Where: where, Reason: ReasonUnknown, Detail: "neither placeVisit nor activitySegment"})
	return nil
}

func (r *reader) placeVisit(where string, v *semVisit) error {
	// The visit names the place (its own position, else the centre of the
	// visit's raw positions, else the most likely other candidate); the
	// locations say where the device was (the centre, else the place).
	place := e7(v.Location.LatitudeE7, v.Location.LongitudeE7)
	center := e7(v.CenterLatE7, v.CenterLngE7)
	if !place.set && len(v.OtherCandidateLocations) > 0 && !center.set {
		c := v.OtherCandidateLocations[0]
		place = e7(c.LatitudeE7, c.LongitudeE7)
	}
	if !place.set && center.set {
		place = center
	}
	if !center.set {
		center = place
	}
	start, end := v.Duration.start(), v.Duration.end()
	vis := visit{
		where: where, start: start.t, placeID: v.Location.PlaceID, name: v.Location.Name,
		address: v.Location.Address, semantic: v.Location.SemanticType,
		probability: v.VisitConfidence.v / 100, hasProbability: v.VisitConfidence.set && v.VisitConfidence.v >= 0 && v.VisitConfidence.v <= 100,
	}
	if end.set {
		vis.end = end.t
	}
	if place.wrapped || center.wrapped {
		r.st.Wrapped++
	}
	if r.usable(where, place) && r.timed(where, start) {
		if err := r.stay(vis, place, center); err != nil {
			return err
		}
	} else {
		r.st.Points++
	}
	if v.SimplifiedRawPath != nil {
		if err := r.e7Points(where+".simplifiedRawPath", v.SimplifiedRawPath.Points, ""); err != nil {
			return err
		}
	}
	for i := range v.ChildVisits {
		if err := r.placeVisit(where+".childVisits["+itoa(i)+"]", &v.ChildVisits[i]); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) activitySegment(where string, a *semActivity) error {
	r.st.Activities++
	typ := a.ActivityType
	if typ == "" && len(a.Activities) > 0 {
		typ = a.Activities[0].ActivityType
	}
	motion := motionName(typ)
	start, end := a.Duration.start(), a.Duration.end()
	ends := []struct {
		name string
		loc  semLocation
		t    when
	}{{".startLocation", a.StartLocation, start}}
	if err := r.segmentEnd(where+ends[0].name, ends[0].loc, ends[0].t, motion); err != nil {
		return err
	}
	if a.WaypointPath != nil {
		if err := r.waypoints(where+".waypointPath.waypoints", a.WaypointPath.Waypoints, start, end, motion); err != nil {
			return err
		}
	}
	if a.SimplifiedRawPath != nil {
		if err := r.e7Points(where+".simplifiedRawPath", a.SimplifiedRawPath.Points, motion); err != nil {
			return err
		}
	}
	return r.segmentEnd(where+".endLocation", a.EndLocation, end, motion)
}

func (r *reader) segmentEnd(where string, loc semLocation, t when, motion string) error {
	p := newPoint(where)
	p.motion = motion
	at := e7(loc.LatitudeE7, loc.LongitudeE7)
	if at.wrapped {
		r.st.Wrapped++
	}
	return r.position(p, at, t)
}

// e7Points: a simplifiedRawPath's points, each with its own time.
func (r *reader) e7Points(where string, pts []e7Point, motion string) error {
	for i, q := range pts {
		p := newPoint(where + "[" + itoa(i) + "]")
		p.motion = motion
		p.acc, _ = q.AccuracyMeters.int(0, 1e6)
		at := e7(q.LatE7, q.LngE7)
		if at.wrapped {
			r.st.Wrapped++
		}
		if err := r.position(p, at, first(q.Timestamp, q.TimestampMs)); err != nil {
			return err
		}
	}
	return nil
}

// waypoints have no time: each is placed between the segment's start and
// end in proportion to the distance along the path up to it.
func (r *reader) waypoints(where string, pts []e7Point, start, end when, motion string) error {
	places := make([]place, len(pts))
	total := 0.0
	var prev *place
	for i, q := range pts {
		places[i] = e7(q.LatE7, q.LngE7)
		if places[i].set {
			if prev != nil {
				total += distance(*prev, places[i])
			}
			prev = &places[i]
		}
	}
	timed := start.set && end.set && validTime(start.t) && validTime(end.t) && !end.t.Before(start.t)
	span := end.t.Sub(start.t)
	done := 0.0
	prev = nil
	for i, at := range places {
		p := newPoint(where + "[" + itoa(i) + "]")
		p.motion = motion
		r.st.Points++
		if at.wrapped {
			r.st.Wrapped++
		}
		if !r.usable(p.where, at) {
			continue
		}
		if prev != nil {
			done += distance(*prev, at)
		}
		prev = &places[i]
		if !timed {
			r.timed(p.where, when{raw: "none: the segment has no usable start and end"})
			continue
		}
		frac := 0.0
		if total > 0 {
			frac = done / total
		} else if len(places) > 1 {
			frac = float64(i) / float64(len(places)-1)
		}
		r.st.Interpolate++
		p.lat, p.lon, p.at = at.lat, at.lon, start.t.Add(time.Duration(frac*float64(span)))
		if err := r.emit(p); err != nil {
			return err
		}
	}
	return nil
}

// distance is the great-circle distance in metres.
func distance(a, b place) float64 {
	const rad = math.Pi / 180
	la1, la2 := a.lat*rad, b.lat*rad
	dla, dlo := (b.lat-a.lat)*rad, (b.lon-a.lon)*rad
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * 6371000 * math.Asin(math.Min(1, math.Sqrt(h)))
}

// --- Timeline export made on the phone (Android object, iOS array) ---

type segment struct {
	StartTime      when            `json:"startTime"`
	EndTime        when            `json:"endTime"`
	TimelinePath   []pathPoint     `json:"timelinePath"`
	Visit          *segVisit       `json:"visit"`
	Activity       *segActivity    `json:"activity"`
	TimelineMemory json.RawMessage `json:"timelineMemory"`
}

type pathPoint struct {
	Point  latLng `json:"point"`
	Time   when   `json:"time"`                               // Android
	Offset num    `json:"durationMinutesOffsetFromStartTime"` // iOS
}

type segVisit struct {
	Probability  num `json:"probability"`
	TopCandidate struct {
		PlaceID       string `json:"placeId"` // iOS: placeID (the names match case-insensitively)
		SemanticType  string `json:"semanticType"`
		Probability   num    `json:"probability"`
		PlaceLocation latLng `json:"placeLocation"`
	} `json:"topCandidate"`
}

type segActivity struct {
	Start        latLng `json:"start"`
	End          latLng `json:"end"`
	TopCandidate struct {
		Type string `json:"type"`
	} `json:"topCandidate"`
}

type rawSignal struct {
	Position *struct {
		LatLng               latLng `json:"LatLng"`
		AccuracyMeters       num    `json:"accuracyMeters"`
		AltitudeMeters       num    `json:"altitudeMeters"`
		SpeedMetersPerSecond num    `json:"speedMetersPerSecond"`
		Timestamp            when   `json:"timestamp"`
	} `json:"position"`
}

// iosSegment: one element of the iOS export's top-level array.
func (r *reader) iosSegment(where string) error { return r.segment(where) }

// segment: one element of semanticSegments (or of the iOS array).
func (r *reader) segment(where string) error {
	var s segment
	if ok, err := r.decode(where, &s); !ok {
		return err
	}
	switch {
	case s.Visit != nil:
		c := s.Visit.TopCandidate
		vis := visit{
			where: where + ".visit", start: s.StartTime.t, placeID: c.PlaceID, semantic: c.SemanticType,
			probability: c.Probability.v, hasProbability: c.Probability.set && c.Probability.v >= 0 && c.Probability.v <= 1,
		}
		if s.EndTime.set {
			vis.end = s.EndTime.t
		}
		if !r.usable(vis.where, c.PlaceLocation.place) || !r.timed(vis.where, s.StartTime) {
			r.st.Points++
			return nil
		}
		return r.stay(vis, c.PlaceLocation.place, c.PlaceLocation.place)
	case s.Activity != nil:
		r.st.Activities++
		motion := motionName(s.Activity.TopCandidate.Type)
		for _, e := range []struct {
			name string
			at   latLng
			t    when
		}{{".activity.start", s.Activity.Start, s.StartTime}, {".activity.end", s.Activity.End, s.EndTime}} {
			p := newPoint(where + e.name)
			p.motion = motion
			if err := r.position(p, e.at.place, e.t); err != nil {
				return err
			}
		}
		return nil
	case s.TimelinePath != nil:
		for i, q := range s.TimelinePath {
			p := newPoint(where + ".timelinePath[" + itoa(i) + "]")
			t := q.Time
			if !t.set && t.raw == "" && q.Offset.set {
				t = when{raw: q.Offset.raw}
				if s.StartTime.set && q.Offset.v >= 0 && q.Offset.v < 1e6 {
					t.t, t.set = s.StartTime.t.Add(time.Duration(q.Offset.v*float64(time.Minute))), true
				}
			}
			if err := r.position(p, q.Point.place, t); err != nil {
				return err
			}
		}
		return nil
	case s.TimelineMemory != nil:
		r.st.Memories++
		return nil
	}
	r.problem(Problem{Where: where, Reason: ReasonUnknown, Detail: "no visit, activity or timelinePath"})
	return nil
}

// rawSignal: one element of rawSignals; only positions are imported.
func (r *reader) rawSignal(where string) error {
	var s rawSignal
	if ok, err := r.decode(where, &s); !ok {
		return err
	}
	if s.Position == nil {
		r.st.Signals++
		return nil
	}
	q := s.Position
	p := newPoint(where + ".position")
	p.acc, _ = q.AccuracyMeters.int(0, 1e6)
	p.alt, _ = q.AltitudeMeters.int(-1e5, 1e5)
	if _, ok := q.SpeedMetersPerSecond.int(0, 1000); ok {
		p.vel = int64(math.Round(q.SpeedMetersPerSecond.v * 3.6))
	}
	return r.position(p, q.LatLng.place, q.Timestamp)
}

func itoa(i int) string { return strconv.Itoa(i) }
