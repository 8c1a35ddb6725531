package google_test

import (
	"strings"
	"testing"

	"tracker/events/google"
	"tracker/events/google/googletest"
)

var reasons = map[string]bool{
	google.ReasonCoords: true, google.ReasonNoCoords: true, google.ReasonNoTime: true, google.ReasonTime: true,
	google.ReasonDuplicate: true, google.ReasonShape: true, google.ReasonField: true, google.ReasonUnknown: true,
	google.ReasonTooLarge: true, google.ReasonJSON: true, google.ReasonRead: true,
}

// fuzzRead: any input ends (an error or not) without a panic, every event
// is a well-formed location or visit of the device (checkEvent) and every
// problem has a known reason.
func fuzzRead(t *testing.T, in string) {
	_, _ = google.Read(t.Context(), strings.NewReader(in), anna, func(r google.Record) error {
		checkEvent(t, r)
		return nil
	}, func(p google.Problem) {
		if !reasons[p.Reason] {
			t.Fatalf("unknown reason %q", p.Reason)
		}
	})
}

// FuzzRead: whole files. Seeds: the four formats and the corpus in
// testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	for _, s := range []string{googletest.Records, googletest.Semantic, googletest.Android, googletest.IOS} {
		f.Add(s)
	}
	f.Fuzz(fuzzRead)
}

// The element fuzzers put the input where one record of each format
// goes, so the fuzzer spends its time inside each record decoder.

// FuzzRecordsLocation: one element of Records.json's locations.
func FuzzRecordsLocation(f *testing.F) {
	f.Add(`{"latitudeE7":508503000,"longitudeE7":43517000,"timestampMs":"1408910152294","activitys":[{"activities":[{"type":"still","confidence":100}]}]}`)
	f.Add(`{"latitudeE7":4294967000,"longitudeE7":"43517000","timestamp":"2022-01-12T17:18:24.190Z","velocity":5,"heading":270}`)
	f.Fuzz(func(t *testing.T, elem string) { fuzzRead(t, `{"locations":[`+elem+`]}`) })
}

// FuzzTimelineObject: one element of a Semantic Location History month.
func FuzzTimelineObject(f *testing.F) {
	f.Add(`{"placeVisit":{"location":{"latitudeE7":508466000,"longitudeE7":43524000,"name":"x"},"duration":{"startTimestampMs":"1459000000000","endTimestampMs":"1459003600000"},"centerLatE7":508466500,"centerLngE7":43524500,"childVisits":[{"location":{"latitudeE7":1,"longitudeE7":2},"duration":{"startTimestamp":"2022-03-03T12:43:34Z"}}]}}`)
	f.Add(`{"activitySegment":{"startLocation":{"latitudeE7":508503000,"longitudeE7":43517000},"duration":{"startTimestamp":"2022-03-03T12:22:24Z","endTimestamp":"2022-03-03T12:43:34Z"},"waypointPath":{"waypoints":[{"latE7":508480000,"lngE7":43520000},{"latE7":508480000,"lngE7":43520000}]},"simplifiedRawPath":{"points":[{"latE7":1,"lngE7":2,"timestampMs":"1646310600000"}]}}}`)
	f.Fuzz(func(t *testing.T, elem string) { fuzzRead(t, `{"timelineObjects":[`+elem+`]}`) })
}

// FuzzSegment: one timeline segment of the phone's export (the same
// decoder reads Android's semanticSegments and the iOS array).
func FuzzSegment(f *testing.F) {
	f.Add(`{"startTime":"2024-04-03T08:00:00.000+02:00","timelinePath":[{"point":"50.8503°, 4.3517°","time":"2024-04-03T08:14:00.000+02:00"}]}`)
	f.Add(`{"startTime":"2023-08-27T20:00:00.000Z","endTime":"2023-08-27T22:00:00.000Z","activity":{"start":"geo:27.72,-97.34","end":{"latLng":"27.7°, -97.3°"},"topCandidate":{"type":"in passenger vehicle"}}}`)
	f.Add(`{"startTime":"2023-08-27T20:00:00.000Z","visit":{"topCandidate":{"placeID":"x","placeLocation":"geo:27.720022,-97.347951","probability":"0.7"}}}`)
	f.Fuzz(func(t *testing.T, elem string) { fuzzRead(t, `[`+elem+`]`) })
}

// FuzzRawSignal: one element of the Android export's rawSignals.
func FuzzRawSignal(f *testing.F) {
	f.Add(`{"position":{"LatLng":"50.8504°, 4.3518°","accuracyMeters":13,"altitudeMeters":77.6,"timestamp":"2024-04-03T08:14:05.000+02:00","speedMetersPerSecond":1.25}}`)
	f.Add(`{"activityRecord":{"probableActivities":[{"type":"STILL","confidence":0.96}]}}`)
	f.Fuzz(func(t *testing.T, elem string) { fuzzRead(t, `{"rawSignals":[`+elem+`]}`) })
}
