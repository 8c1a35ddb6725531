package owntracks

import (
	"encoding/json"
	"testing"
	"time"
)

// The rebuild target is 200,000 events/s on 2 cores, so decoding a
// location must stay within a few µs.
func BenchmarkDecodeLocation(b *testing.B) {
	payload := []byte(docLocation)
	d := Decoder{Now: func() time.Time { return testNow }}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode("owntracks/alice/phone", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMinimalLocation(b *testing.B) {
	payload := []byte(minLocation)
	d := Decoder{Now: func() time.Time { return testNow }}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode("owntracks/alice/phone", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEncryptedLocation(b *testing.B) {
	payload := sealed("s3cr3t-alice", docLocation)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := testDecoder.Decode("owntracks/alice/phone", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInvalid(b *testing.B) {
	payload := []byte(`{"_type":"location","lat":91.2,"lon":13.4,"tst":1718000000}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := testDecoder.Decode("owntracks/alice/phone", payload); err == nil {
			b.Fatal("no error")
		}
	}
}

// BenchmarkReferenceUnmarshal is the yardstick for BenchmarkDecodeLocation
// on the machine at hand: encoding/json decoding the same payload into a
// plain struct, without any validation.
func BenchmarkReferenceUnmarshal(b *testing.B) {
	var v struct {
		Type                                 string `json:"_type"`
		TID, Conn, T, SSID, BSSID            string
		Lat, Lon                             float64
		Tst                                  int64
		CreatedAt                            int64 `json:"created_at"`
		Acc, Alt, Vac, Vel, Cog, Batt, BS, M int
		InRegions, InRIDs                    []string
	}
	payload := []byte(docLocation)
	b.ReportAllocs()
	for b.Loop() {
		if err := json.Unmarshal(payload, &v); err != nil {
			b.Fatal(err)
		}
	}
}
