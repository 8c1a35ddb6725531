package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/nacl/secretbox"

	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/events/recorder"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden answers in testdata/recorder-golden")

// goldenFace is a PNG's first bytes: enough for a card's face.
const goldenFace = "iVBORw0KGgoAAAANSUhEUgAAAAE="

// goldenPayloads are locations as phones and scripts send them, chosen to
// exercise what the Recorder's answers keep and change: members in the
// phone's order, whitespace, escapes, HTML characters, non-ASCII, string
// coordinates, repeated members, members the Recorder itself adds, nested
// values and bytes after the object.
var goldenPayloads = []string{
	`{"_type":"location","tid":"%s","lat":52.52,"lon":13.405,"tst":%d,"acc":5,"alt":34,"vac":3,"vel":0,"batt":77,"bs":1,"conn":"w","t":"u","SSID":"home<&>","BSSID":"a0:b1","inregions":["Home"],"created_at":1750000001,"m":1}`,
	`{ "_type" : "location", "lat" : "52.53", "lon":"13.41" , "tst":%[2]d, "desc":"caf\u00e9 \/ ünï \u2028", "tid":"%[1]s" }`,
	`{"_type":"location","lat":52.54,"lon":13.42,"tst":%[2]d,"batt":50,"batt":51,"tid":"%[1]s"}`,
	`{"_type":"location","lat":52.55,"lon":13.43,"tst":%[2]d,"ghash":"u00000","isotst":"x","disptst":"y","isorcv":"z","topic":"elsewhere","tid":"%[1]s"}`,
	`{"_type":"location","a<b":1,"k\u0041":2,"lat":52.56,"lon":13.44,"tst":%[2]d,"extra":{ "x" : [1, 2.50, {"y":null}] },"tid":"%[1]s"}` + "\n  ",
	`{"_type":"location","lat":5.256e1,"lon":13.4500,"tst":%[2]d,"acc":-1,"alt":0,"cog":359,"name":"from the payload","face":"x","tid":"%[1]s"}`,
}

// goldenQueries are the Recorder-compatible requests whose answers are
// compared.
func goldenQueries(devices []string) []string {
	var qs []string
	for _, d := range devices {
		user, dev, _ := strings.Cut(d, "/")
		base := "/api/0/locations?user=" + user + "&device=" + dev + "&from=2025-06-01&to=2026-01-31"
		for _, f := range []string{"json", "geojson", "linestring", "gpx"} {
			qs = append(qs, base+"&format="+f)
		}
		qs = append(qs, base+"&limit=3", base+"&fields=lat,tst,topic,isorcv,ghash,tid,lat,missing")
	}
	return append(qs, "/api/0/last", "/api/0/last?user=bob&fields=face,name,tid,topic,lat,tst,vac,SSID", "/api/0/list?user=bob")
}

// TestRecorderAnswersGolden: the Recorder's API (/api/0/locations in each
// format, /api/0/last, /ws/last's LAST) and the HTTP mode's friends answer
// give, byte for byte, the answers recorded in testdata/recorder-golden,
// for data imported from a Recorder store and for live data (plain,
// encrypted, sent again, redelivered with DUP), and again after a
// rebuild. The golden answers were recorded before the Recorder answers
// stopped reading each point from the log (go test -run
// TestRecorderAnswersGolden -update rewrites them).
func TestRecorderAnswersGolden(t *testing.T) {
	start := time.Now().Add(-time.Second)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	expect(t, data, `user "adm"`, "user", "add", "adm", "--admin")
	expect(t, data, `user "bob"`, "user", "add", "bob")

	// A Recorder store: u0's phone with every payload, twice a day, and a card.
	store := filepath.Join(dir, "recorder")
	var rec []byte
	day := time.Date(2025, 10, 1, 8, 0, 0, 0, time.UTC)
	for i, p := range goldenPayloads {
		at := day.Add(time.Duration(i) * 90 * time.Minute)
		rec = recorder.AppendLine(rec, at.Add(7*time.Second), "*", fmt.Appendf(nil, p, "u0", at.Unix()))
	}
	writeAt(t, store, "rec/u0/phone/2025-10.rec", rec, day)
	writeAt(t, store, "cards/u0/u0.json", []byte(`{"_type":"card","name":"Uma <0>","face":"`+goldenFace+`"}`+"\n"), day)
	if _, err := tracker(t, data, "import", "recorder", store); err != nil {
		t.Fatal(err)
	}

	serve := func() *server {
		return startServer(t, data, "--secret-for", "bob/enc=golden-secret")
	}
	s := serve()
	phone, err := tryConnectMQTT(s.mqtt, "bob-phone", "bob", cmdPassword)
	if err != nil {
		t.Fatal(err)
	}
	live := time.Date(2025, 11, 2, 9, 0, 0, 0, time.UTC)
	eventstest.Publish(t, phone, "owntracks/bob/phone/info", 1, true, []byte(`{"_type":"card","name":"Bob <B>","tid":"bp","face":"`+goldenFace+`"}`))
	for i, p := range goldenPayloads {
		eventstest.Publish(t, phone, "owntracks/bob/phone", 1, true, fmt.Appendf(nil, p, "bp", live.Unix()+int64(i)*60))
	}
	// Sent again on purpose (not a redelivery), and two fixes in one second.
	again := fmt.Appendf(nil, goldenPayloads[0], "bp", live.Unix())
	eventstest.Publish(t, phone, "owntracks/bob/phone", 1, true, again)
	newest := live.Unix() + 3600
	eventstest.Publish(t, phone, "owntracks/bob/phone", 1, true, fmt.Appendf(nil, `{"_type":"location","lat":52.6,"lon":13.5,"tst":%d,"SSID":"first","tid":"bp"}`, newest))
	eventstest.Publish(t, phone, "owntracks/bob/phone", 1, true, fmt.Appendf(nil, `{"_type":"location","lat":52.6,"lon":13.5,"tst":%d,"SSID":"second","tid":"bp"}`, newest))
	// A lost PUBACK: resent with DUP on the same packet id.
	dup := fmt.Appendf(nil, `{"_type":"location","lat":52.7,"lon":13.6,"tst":%d,"tid":"br","SSID":"dup"}`, live.Unix()+7200)
	for _, d := range []bool{false, true} {
		if err := tryRawPublish(s.mqtt, "bob-raw", "bob", cmdPassword, "owntracks/bob/raw", 4242, d, false, dup); err != nil {
			t.Fatal(err)
		}
	}
	// Encrypted, with a plaintext the phone formatted its own way.
	for i, p := range goldenPayloads[:2] {
		plain := fmt.Appendf(nil, p, "be", live.Unix()+int64(i)*600)
		eventstest.Publish(t, phone, "owntracks/bob/enc", 1, false, sealGolden(t, "golden-secret", plain))
	}
	waitCaughtUp(t, "http://"+s.http)

	devices := []string{"u0/phone", "bob/phone", "bob/raw", "bob/enc"}
	first := goldenAnswers(t, s, devices)
	checkGolden(t, first, start)
	s.stop(t)

	if _, err := tracker(t, data, "rebuild", "--secret-for", "bob/enc=golden-secret"); err != nil {
		t.Fatal(err)
	}
	s = serve()
	waitCaughtUp(t, "http://"+s.http)
	again2 := goldenAnswers(t, s, devices)
	for name, want := range first {
		if got := again2[name]; got != want {
			t.Errorf("after a rebuild, %s answers\n%s\nwant (as before)\n%s", name, got, want)
		}
	}
}

// goldenAnswers asks every golden query as adm, /ws/last's LAST as adm,
// and posts bob's location in HTTP mode for the friends answer.
func goldenAnswers(t *testing.T, s *server, devices []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	// First the HTTP mode (it adds bob's "web" device, the same each time).
	pub := fmt.Appendf(nil, `{"_type":"location","lat":48.1,"lon":11.5,"tst":%d,"tid":"bw","vac":9}`, time.Date(2025, 11, 3, 0, 0, 0, 0, time.UTC).Unix())
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.http+"/pub", bytes.NewReader(pub))
	req.SetBasicAuth("bob", cmdPassword)
	req.Header.Set("X-Limit-D", "web")
	req.Header.Set("Content-Type", "application/json")
	out["pub"] = goldenDo(t, req)
	waitCaughtUp(t, "http://"+s.http)

	for _, q := range goldenQueries(devices) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.http+q, nil)
		req.SetBasicAuth("adm", cmdPassword)
		out[q] = goldenDo(t, req)
	}

	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("adm:"+cmdPassword)))
	conn, res, err := websocket.DefaultDialer.DialContext(t.Context(), "ws://"+s.http+"/ws/last", h)
	if err != nil {
		t.Fatalf("dial /ws/last: %v", err)
	}
	res.Body.Close()
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte("LAST")); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, m, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("/ws/last after %d messages: %v", len(msgs), err)
		}
		msgs = append(msgs, string(m))
		if string(m) == "LAST" {
			break
		}
	}
	out["ws LAST"] = strings.Join(msgs, "\n")
	return out
}

func goldenDo(t *testing.T, req *http.Request) string {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), b)
}

var isorcvRE = regexp.MustCompile(`"isorcv":"([^"]*)"`)

// checkGolden compares the answers with the golden files, live receive
// times (at or after start) replaced by "<live>".
func checkGolden(t *testing.T, answers map[string]string, start time.Time) {
	t.Helper()
	var b strings.Builder
	names := make([]string, 0, len(answers))
	for n := range answers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		a := isorcvRE.ReplaceAllStringFunc(answers[n], func(m string) string {
			v := isorcvRE.FindStringSubmatch(m)[1]
			if at, err := time.Parse(time.RFC3339, v); err == nil && !at.Before(start.Truncate(time.Second)) {
				return `"isorcv":"<live>"`
			}
			return m
		})
		fmt.Fprintf(&b, "=== %s\n%s\n", n, a)
	}
	file := filepath.Join("testdata", "recorder-golden.txt")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		gotL, wantL := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gotL), len(wantL)) {
			var g, w string
			if i < len(gotL) {
				g = gotL[i]
			}
			if i < len(wantL) {
				w = wantL[i]
			}
			if g != w {
				t.Errorf("%s line %d:\ngot  %s\nwant %s", file, i+1, g, w)
				break
			}
		}
	}
}

// sealGolden encrypts a payload as the apps do.
func sealGolden(t *testing.T, secret string, plain []byte) []byte {
	t.Helper()
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		t.Fatal(err)
	}
	box := secretbox.Seal(nonce[:], plain, &nonce, owntracks.KeyFromSecret(secret))
	return fmt.Appendf(nil, `{"_type":"encrypted","data":%q}`, base64.StdEncoding.EncodeToString(box))
}
