package owntracks

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/nacl/secretbox"
)

// testNow is the clock of the fixtures: 2024-06-11T10:00:00Z, a day after
// the protocol note's example timestamps.
var testNow = time.Unix(1718100000, 0)

// testKeys holds the secrets the encrypted fixtures were sealed with.
var testKeys = Secrets{PerUser: map[string]string{
	"alice/phone": "s3cr3t-alice",
	"carol":       "carol's secret",
}}

// testDecoder is how every fixture is decoded.
var testDecoder = Decoder{Keys: testKeys, Now: func() time.Time { return testNow }}

// Payloads from the protocol note (§2), used by several fixtures.
const (
	docLocation = `{"_type":"location","tid":"am","lat":52.52009,"lon":13.40495,"tst":1718000000,
 "created_at":1718000004,"acc":12,"alt":41,"vac":3,"vel":4,"cog":270,"batt":81,
 "bs":1,"conn":"w","t":"u","m":1,"inregions":["Office"],"inrids":["a1b2c3"],
 "SSID":"corp","BSSID":"aa:bb:cc:dd:ee:01"}`
	docTransition = `{"_type":"transition","event":"leave","desc":"Home","rid":"9f3e21","wtst":1700000000,
 "tst":1718003600,"lat":48.1371,"lon":11.5754,"acc":20,"t":"c","tid":"bb"}`
	docWaypoint = `{"_type":"waypoint","desc":"Gym","lat":51.5072,"lon":-0.1276,"rad":75,"tst":1712000000,"rid":"c0ffee"}`
	docCmd      = `{"_type":"cmd","action":"setWaypoints","waypoints":{"_type":"waypoints","waypoints":[{"_type":"waypoint","desc":"School","lat":40.4168,"lon":-3.7038,"rad":120,"tst":1715000000,"rid":"5c4b3a"}]}}`
	docLWT      = `{"_type":"lwt","tst":1717990000}`
	minLocation = `{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000}`
)

// The fixture faces: tiny real images, encoded at init.
var (
	pngFace  = encodeImage(png.Encode)
	jpegFace = encodeImage(func(w io.Writer, img image.Image) error { return jpeg.Encode(w, img, nil) })
)

func encodeImage(enc func(io.Writer, image.Image) error) string {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// sealed wraps plaintext the way the apps do (§2.9), with a fixed nonce so
// the fixtures are reproducible.
func sealed(secret, plaintext string) []byte {
	var nonce [24]byte
	for i := range nonce {
		nonce[i] = byte(i + 1)
	}
	box := secretbox.Seal(nonce[:], []byte(plaintext), &nonce, KeyFromSecret(secret))
	return []byte(`{"_type":"encrypted","data":"` + base64.StdEncoding.EncodeToString(box) + `"}`)
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }

// fixtures is the shared table of real and hostile inputs: what each
// decodes to (kind) and, for rejections, the exact reason. It is the seed
// corpus of the fuzz tests too. Decode them with testDecoder.
var fixtures = []struct {
	name, topic string
	payload     []byte
	kind        Kind
	reason      string // "" when valid
}{
	// Every _type of the protocol note, as the apps send it.
	{"location/doc", "owntracks/alice/phone", []byte(docLocation), KindLocation, ""},
	{"location/minimal", "owntracks/alice/phone", []byte(minLocation), KindLocation, ""},
	{"location/numeric strings", "owntracks/alice/phone", []byte(`{"_type":"location","lat":"52.5","lon":"13.4","tst":"1718000000","batt":"57","acc":"12"}`), KindLocation, ""},
	{"location/float ints", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000.0,"batt":57.0,"acc":12.5,"vel":-1,"cog":-1,"vac":-1}`), KindLocation, ""},
	{"location/trailing newline", "owntracks/alice/phone", []byte(minLocation + "\r\n"), KindLocation, ""},
	{"location/ping", "owntracks/alice/phone", []byte(`{"_type":"location","t":"p","lat":-33.8688,"lon":151.2093,"tst":1718000000,"tid":"ap","inregions":[],"inrids":[]}`), KindLocation, ""},
	{"location/extremes", "owntracks/alice/phone", []byte(`{"_type":"location","lat":-90,"lon":180,"tst":1}`), KindLocation, ""},
	{"location/bridge extras", "owntracks/qtripp/860000000000001", []byte(`{"_type":"location","lat":45.1,"lon":7.6,"tst":1718000000,"t":"T","odometer":12345.6,"ign":true,"imei":"860000000000001","image":null,"rad":null}`), KindLocation, ""},
	{"location/iOS extended", "owntracks/alice/iPhone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"p":101.2,"poi":"Café ☕","tag":"work","motionactivities":["walking"],"m":2,"_id":"x1","topic":"owntracks/mallory/phone"}`), KindLocation, ""},
	{"location/escaped strings", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"SSID":"caf\u00e9 \"net\"\n","inregions":["a\/b"]}`), KindLocation, ""},
	{"location/tst fraction", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":"1718000000.9"}`), KindLocation, ""},
	{"location/tst 23 hours ahead", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718182800}`), KindLocation, ""},
	{"transition/doc", "owntracks/alice/phone/event", []byte(docTransition), KindTransition, ""},
	{"transition/old app without rid", "owntracks/alice/phone/event", []byte(`{"_type":"transition","event":"enter","desc":"Home","wtst":1700000000,"tst":1718003600,"acc":10,"t":"l","tid":"ap"}`), KindTransition, ""},
	{"transition/no desc", "owntracks/alice/phone/event", []byte(`{"_type":"transition","event":"enter","rid":"9f3e21","tst":1718003600}`), KindTransition, ""},
	{"waypoint/doc", "owntracks/alice/phone/waypoint", []byte(docWaypoint), KindWaypoint, ""},
	{"waypoint/booklet strings", "owntracks/alice/phone/waypoint", []byte(`{"_type":"waypoint","desc":"Home","lat":52.3,"lon":4.9,"rad":"50","tst":"1712000000"}`), KindWaypoint, ""},
	{"waypoint/beacon region", "owntracks/alice/phone/waypoint", []byte(`{"_type":"waypoint","desc":"Desk","rad":-1,"tst":1712000000,"uuid":"CA271EAE-5FA8-4E80-8F08-2A302A95A959","major":1,"minor":0}`), KindWaypoint, ""},
	{"waypoints/export", "owntracks/alice/phone/waypoints", []byte(`{"_type":"waypoints","_creator":"Owntracks","waypoints":[` + docWaypoint + `,{"_type":"waypoint","desc":"Home","lat":52.3,"lon":4.9,"rad":"50","tst":"1700000000"}]}`), KindWaypoints, ""},
	{"waypoints/empty", "owntracks/alice/phone/waypoints", []byte(`{"_type":"waypoints","waypoints":[]}`), KindWaypoints, ""},
	{"card/doc png", "owntracks/alice/phone/info", []byte(`{"_type":"card","tid":"am","name":"Anna M.","face":"` + pngFace + `"}`), KindCard, ""},
	{"card/jpeg", "owntracks/alice/phone/info", []byte(`{"_type":"card","tid":"am","name":"Anna M.","face":"` + jpegFace + `"}`), KindCard, ""},
	{"card/no face no tid", "owntracks/alice/phone/info", []byte(`{"_type":"card","name":"Anna M."}`), KindCard, ""},
	{"card/face not base64", "owntracks/alice/phone/info", []byte(`{"_type":"card","tid":"am","name":"Anna M.","face":"iVBO*w0KGgo="}`), KindCard, ""},
	{"card/face not an image", "owntracks/alice/phone/info", []byte(`{"_type":"card","tid":"am","name":"Anna M.","face":"` + base64.StdEncoding.EncodeToString([]byte("<svg onload=alert(1)>")) + `"}`), KindCard, ""},
	{"card/face a number", "owntracks/alice/phone/info", []byte(`{"_type":"card","tid":"am","name":"Anna M.","face":42}`), KindCard, ""},
	{"card/on base topic", "owntracks/alice/phone", []byte(`{"_type":"card","tid":"am","name":"Anna M."}`), KindCard, ""},
	{"lwt/doc", "owntracks/alice/phone", []byte(docLWT), KindLWT, ""},
	{"lwt/tst string", "owntracks/alice/phone", []byte(`{"_type":"lwt","tst":"1717990000"}`), KindLWT, ""},
	{"status/iOS", "owntracks/alice/phone/status", []byte(`{"_type":"status","iOS":{"version":"17.3","deviceModel":"iPhone","deviceSystemVersion":"17.5","locale":"de_DE","noMap":0,"noRevgeo":0}}`), KindStatus, ""},
	{"status/android", "owntracks/alice/pixel/status", []byte(`{"_type":"status","_id":"6a4b","android":{"hib":1,"bo":0,"loc":1,"ps":0,"wifi":1}}`), KindStatus, ""},
	{"cmd/setWaypoints doc", "owntracks/alice/phone/cmd", []byte(docCmd), KindCmd, ""},
	{"cmd/reportLocation", "owntracks/alice/phone/cmd", []byte(`{"_type":"cmd","action":"reportLocation"}`), KindCmd, ""},
	{"cmd/reportSteps", "owntracks/alice/phone/cmd", []byte(`{"_type":"cmd","action":"reportSteps","from":1717900000,"to":1718000000}`), KindCmd, ""},
	{"steps", "owntracks/alice/phone/step", []byte(`{"_type":"steps","tst":1718000000,"steps":4711,"from":1717900000,"to":1718000000}`), KindSteps, ""},
	{"steps/unsupported", "owntracks/alice/phone/step", []byte(`{"_type":"steps","tst":1718000000,"steps":-1,"from":1717900000,"to":1718000000}`), KindSteps, ""},
	{"beacon", "owntracks/alice/phone/beacon", []byte(`{"_type":"beacon","desc":"Desk","uuid":"CA271EAE-5FA8-4E80-8F08-2A302A95A959","major":1,"minor":2,"tst":1718000000,"acc":1,"rssi":-61,"prox":2}`), KindBeacon, ""},
	{"request/tour", "owntracks/alice/phone/request", []byte(`{"_type":"request","request":"tour","tour":{"label":"Holiday","from":"2024-06-01T00:00:00","to":"2024-06-08T00:00:00"}}`), KindRequest, ""},
	{"request/tours", "owntracks/alice/phone/request", []byte(`{"_type":"request","request":"tours"}`), KindRequest, ""},
	{"configuration dump", "owntracks/alice/phone/dump", []byte(`{"_type":"configuration","mode":0,"host":"mqtt.example.org","port":8883,"password":"hunter2","pubTopicBase":"owntracks/%u/%d","waypoints":[]}`), KindConfiguration, ""},
	{"clear/empty payload", "owntracks/alice/phone", []byte{}, KindClear, ""},
	{"clear/nil payload", "owntracks/alice/phone/info", nil, KindClear, ""},

	// Topics.
	{"topic/leading slash", "/owntracks/alice/phone", []byte(minLocation), KindLocation, ""},
	{"topic/unicode and spaces", "owntracks/Zoë/iPhone 15 Pro", []byte(minLocation), KindLocation, ""},
	{"topic/deep suffix", "owntracks/alice/phone/a/b/c", []byte(docLWT), KindLWT, ""},
	{"topic/hostile levels", "owntracks/<img src=x onerror=alert(1)>/\"><b>", []byte(minLocation), KindLocation, ""},
	{"topic/script split by slash", "owntracks/<script>alert(1)</script>", []byte(minLocation), KindLocation, ""},
	{"topic/foreign root", "foo/alice/phone", []byte(minLocation), "", `topic root is "foo", want "owntracks"`},
	{"topic/two levels", "owntracks/alice", []byte(minLocation), "", "topic has 2 levels, need at least 3"},
	{"topic/one level", "owntracks", []byte(minLocation), "", "topic has 1 level, need at least 3"},
	{"topic/empty", "", []byte(minLocation), "", "topic is empty"},
	{"topic/empty user", "owntracks//phone", []byte(minLocation), "", "topic level 2 (user) is empty"},
	{"topic/empty device", "owntracks/alice/", []byte(minLocation), "", "topic level 3 (device) is empty"},
	{"topic/trailing slash", "owntracks/alice/phone/", []byte(minLocation), "", "topic level 4 is empty"},
	{"topic/double slash suffix", "owntracks/alice/phone/a//b", []byte(minLocation), "", "topic level 5 is empty"},
	{"topic/wildcard", "owntracks/+/phone", []byte(minLocation), "", `topic contains the wildcard "+"`},
	{"topic/not UTF-8", "owntracks/al\xffce/phone", []byte(minLocation), "", "topic is not valid UTF-8"},
	{"topic/NUL", "owntracks/al\x00ce/phone", []byte(minLocation), "", "topic contains a NUL character"},

	// Hostile strings are kept verbatim.
	{"hostile/desc", "owntracks/alice/phone/event", []byte(`{"_type":"transition","event":"enter","desc":"<script>alert(1)</script>","tst":1718003600}`), KindTransition, ""},
	{"hostile/card name", "owntracks/alice/phone/info", []byte(`{"_type":"card","tid":"<b>","name":"<script>alert(1)</script>"}`), KindCard, ""},
	{"hostile/unicode", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"tid":"\u202e\u0000","SSID":"𝕳𝖊𝖑𝖑𝖔\ud800"}`), KindLocation, ""},

	// Bytes that are not a JSON object.
	{"json/malformed", "owntracks/alice/phone", []byte(`{"_type":"location",lat:52.5}`), "", "not JSON: invalid character 'l' looking for beginning of object key string at byte 21"},
	{"json/truncated", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"ts`), "", "not JSON: unexpected end of input at byte 45"},
	{"json/two objects", "owntracks/alice/phone", []byte(minLocation + minLocation), "", "not JSON: invalid character '{' after top-level value at byte 60"},
	{"json/whitespace only", "owntracks/alice/phone", []byte("\n"), "", "not JSON: unexpected end of input at byte 1"},
	{"json/Greenwich CSV", "owntracks/alice/phone", []byte("5a4b3c2d,52.52009,13.40495,0,41,12,9,p"), "", "not JSON: invalid character 'a' after top-level value at byte 2"},
	{"json/not UTF-8", "owntracks/alice/phone", []byte("{\"_type\":\"\xff\"}"), "", "not UTF-8: invalid byte 0xff at offset 10"},
	{"json/latin-1", "owntracks/alice/phone", []byte("{\"_type\":\"card\",\"name\":\"Zo\xeb\"}"), "", "not UTF-8: invalid byte 0xeb at offset 26"},
	{"json/binary junk", "owntracks/alice/phone", []byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00}, "", "not UTF-8: invalid byte 0x8b at offset 1"},
	{"json/BOM", "owntracks/alice/phone", []byte("\xef\xbb\xbf" + minLocation), "", "starts with a UTF-8 byte-order mark"},
	{"json/array", "owntracks/alice/phone", []byte(`[` + minLocation + `]`), "", "not a JSON object: got array"},
	{"json/string", "owntracks/alice/phone", []byte(`"location"`), "", "not a JSON object: got string"},
	{"json/number", "owntracks/alice/phone", []byte(` 42 `), "", "not a JSON object: got number"},
	{"json/null", "owntracks/alice/phone", []byte(`null`), "", "not a JSON object: got null"},
	{"json/deep array", "owntracks/alice/phone", []byte(repeat("[", 100000)), "", "JSON nested too deeply (over 10000 levels) at byte 10001"},
	{"json/deep in object", "owntracks/alice/phone", []byte(`{"_type":"location","x":` + repeat(`{"a":`, 20000)), "", "JSON nested too deeply (over 10000 levels) at byte 50020"},
	{"json/1 MB", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"image":"` + repeat("A", 1<<20-len(minLocation)-11) + `"}`), "", "payload is 1048576 bytes, limit 524288"},

	// _type.
	{"type/missing", "owntracks/alice/phone", []byte(`{"lat":52.5,"lon":13.4,"tst":1718000000}`), KindUnknown, "no _type"},
	{"type/number", "owntracks/alice/phone", []byte(`{"_type":5,"lat":52.5}`), KindUnknown, "_type is a number, want a string"},
	{"type/null", "owntracks/alice/phone", []byte(`{"_type":null}`), KindUnknown, "_type is null, want a string"},
	{"visit/imported from Google", "owntracks/alice/phone/visit", []byte(`{"_type":"visit","lat":50.8466,"lon":4.3524,"tst":1646311414,"end":1646316310,"place_id":"ChIJ9Wk","name":"Grand-Place","semantic_type":"HOME","probability":0.88,"tid":"ne"}`), KindVisit, ""},
	{"type/msg", "owntracks/alice/phone/msg", []byte(`{"_type":"msg","title":"Hi","body":"there"}`), KindUnknown, `unknown _type "msg"`},
	{"type/wrong case", "owntracks/alice/phone", []byte(`{"_type":"Location","lat":52.5,"lon":13.4,"tst":1718000000}`), KindUnknown, `unknown _type "Location"`},
	{"type/Recorder dump", "owntracks/alice/phone/dump", []byte(`{"_type":"dump"}`), KindUnknown, `unknown _type "dump"`},
	{"type/long", "owntracks/alice/phone", []byte(`{"_type":"` + repeat("ä", 30) + `"}`), KindUnknown, `unknown _type "` + repeat("ä", 20) + `"…`},

	// Coordinates.
	{"lat/91.2", "owntracks/alice/phone", []byte(`{"_type":"location","lat":91.2,"lon":13.4,"tst":1718000000}`), KindLocation, "lat out of range: 91.2"},
	{"lon/-181", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":-181,"tst":1718000000}`), KindLocation, "lon out of range: -181"},
	{"lat/NaN string", "owntracks/alice/phone", []byte(`{"_type":"location","lat":"NaN","lon":13.4,"tst":1718000000}`), KindLocation, `lat is not a number: "NaN"`},
	{"lat/Infinity string", "owntracks/alice/phone", []byte(`{"_type":"location","lat":"Infinity","lon":13.4,"tst":1718000000}`), KindLocation, `lat is not a number: "Infinity"`},
	{"lat/NaN literal", "owntracks/alice/phone", []byte(`{"_type":"location","lat":NaN,"lon":13.4,"tst":1718000000}`), "", "not JSON: invalid character 'N' looking for beginning of value at byte 27"},
	{"lat/null", "owntracks/alice/phone", []byte(`{"_type":"location","lat":null,"lon":13.4,"tst":1718000000}`), KindLocation, "lat is not a number: null"},
	{"lat/missing", "owntracks/alice/phone", []byte(`{"_type":"location","lon":13.4,"tst":1718000000}`), KindLocation, "location has no lat"},
	{"lat/abc", "owntracks/alice/phone", []byte(`{"_type":"location","lat":"abc","lon":13.4,"tst":1718000000}`), KindLocation, `lat is not a number: "abc"`},
	{"lat/bool", "owntracks/alice/phone", []byte(`{"_type":"location","lat":true,"lon":13.4,"tst":1718000000}`), KindLocation, "lat is not a number: true"},
	{"lat/object", "owntracks/alice/phone", []byte(`{"_type":"location","lat":{"deg":52},"lon":13.4,"tst":1718000000}`), KindLocation, `lat is not a number: {"deg":52}`},
	{"lat/hex string", "owntracks/alice/phone", []byte(`{"_type":"location","lat":"0x1p-2","lon":13.4,"tst":1718000000}`), KindLocation, `lat is not a number: "0x1p-2"`},
	{"lat/1e400", "owntracks/alice/phone", []byte(`{"_type":"location","lat":1e400,"lon":13.4,"tst":1718000000}`), KindLocation, "lat out of range: 1e400"},
	{"lon/empty string", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":"","tst":1718000000}`), KindLocation, `lon is not a number: ""`},

	// Timestamps.
	{"tst/milliseconds", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000000}`), KindLocation, "tst 1718000000000 looks like milliseconds, want seconds"},
	{"tst/not numeric", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":"yesterday"}`), KindLocation, `tst is not a number: "yesterday"`},
	{"tst/negative", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":-5}`), KindLocation, "tst is negative: -5"},
	{"tst/zero", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":0}`), KindLocation, "tst is zero"},
	{"tst/under a second", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":0.5}`), KindLocation, "tst rounds down to zero: 0.5"},
	{"tst/missing", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4}`), KindLocation, "location has no tst"},
	{"tst/years ahead", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":2000000000}`), KindLocation, "tst 2000000000 is 8 years in the future"},
	{"tst/hours ahead", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718200000}`), KindLocation, "tst 1718200000 is 27 hours in the future"},
	{"tst/days ahead", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1719000000}`), KindLocation, "tst 1719000000 is 10 days in the future"},
	{"tst/absurd", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1e300}`), KindLocation, "tst out of range: 1e+300"},
	{"created_at/milliseconds", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"created_at":1718000004000}`), KindLocation, "created_at 1718000004000 looks like milliseconds, want seconds"},
	{"lwt/tst milliseconds", "owntracks/alice/phone", []byte(`{"_type":"lwt","tst":1717990000000}`), KindLWT, "tst 1717990000000 looks like milliseconds, want seconds"},

	// Other members.
	{"batt/word", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"batt":"full"}`), KindLocation, `batt is not a number: "full"`},
	{"acc/huge", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"acc":1e300}`), KindLocation, "acc out of range: 1e+300"},
	{"inregions/string", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"inregions":"Home"}`), KindLocation, "inregions is a string, want a list of strings"},
	{"inrids/numbers", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"inrids":[1,2]}`), KindLocation, "inrids holds a number, want only strings"},
	{"tid/number", "owntracks/alice/phone", []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"tid":42}`), KindLocation, "tid is a number, want a string"},
	{"transition/bad event", "owntracks/alice/phone/event", []byte(`{"_type":"transition","event":"foo","desc":"Home","tst":1718003600}`), KindTransition, `transition event is "foo", want enter or leave`},
	{"transition/no event", "owntracks/alice/phone/event", []byte(`{"_type":"transition","desc":"Home","tst":1718003600}`), KindTransition, "transition has no event"},
	{"transition/event number", "owntracks/alice/phone/event", []byte(`{"_type":"transition","event":1,"desc":"Home","tst":1718003600}`), KindTransition, "event is a number, want a string"},
	{"transition/desc number", "owntracks/alice/phone/event", []byte(`{"_type":"transition","event":"enter","desc":7,"tst":1718003600}`), KindTransition, "desc is a number, want a string"},
	{"transition/no tst", "owntracks/alice/phone/event", []byte(`{"_type":"transition","event":"enter","desc":"Home"}`), KindTransition, "transition has no tst"},
	{"waypoint/lat without lon", "owntracks/alice/phone/waypoint", []byte(`{"_type":"waypoint","desc":"Gym","lat":51.5,"rad":75,"tst":1712000000}`), KindWaypoint, "waypoint has lat but no lon"},
	{"waypoint/rad word", "owntracks/alice/phone/waypoint", []byte(`{"_type":"waypoint","desc":"Gym","lat":51.5,"lon":0.1,"rad":"big","tst":1712000000}`), KindWaypoint, `rad is not a number: "big"`},
	{"waypoints/bad element", "owntracks/alice/phone/waypoints", []byte(`{"_type":"waypoints","waypoints":[` + docWaypoint + `,{"desc":"Sea","lat":100,"lon":0,"rad":10,"tst":1712000000}]}`), KindWaypoints, "waypoints[1]: lat out of range: 100"},
	{"waypoints/element string", "owntracks/alice/phone/waypoints", []byte(`{"_type":"waypoints","waypoints":["Gym"]}`), KindWaypoints, "waypoints[0] is a string, want an object"},
	{"waypoints/object", "owntracks/alice/phone/waypoints", []byte(`{"_type":"waypoints","waypoints":{}}`), KindWaypoints, "waypoints member is an object, want an array"},
	{"waypoints/missing", "owntracks/alice/phone/waypoints", []byte(`{"_type":"waypoints"}`), KindWaypoints, "waypoints has no waypoints"},
	{"cmd/no action", "owntracks/alice/phone/cmd", []byte(`{"_type":"cmd"}`), KindCmd, "cmd has no action"},
	{"cmd/action null", "owntracks/alice/phone/cmd", []byte(`{"_type":"cmd","action":null}`), KindCmd, "action is null, want a string"},
	{"request/no request", "owntracks/alice/phone/request", []byte(`{"_type":"request"}`), KindRequest, "request has no request"},
	{"beacon/rssi word", "owntracks/alice/phone/beacon", []byte(`{"_type":"beacon","rssi":"loud"}`), KindBeacon, `rssi is not a number: "loud"`},

	// Encrypted (§2.9).
	{"encrypted/right key", "owntracks/alice/phone", sealed("s3cr3t-alice", docLocation), KindLocation, ""},
	{"encrypted/key case-insensitive", "owntracks/Alice/Phone", sealed("s3cr3t-alice", docLocation), KindLocation, ""},
	{"encrypted/user key", "owntracks/carol/tablet/info", sealed("carol's secret", `{"_type":"card","tid":"ct","name":"Carol"}`), KindCard, ""},
	{"encrypted/wrong key", "owntracks/alice/phone", sealed("wrong", docLocation), KindEncrypted, "encrypted, key for alice/phone does not open it"},
	{"encrypted/no key", "owntracks/bob/phone", sealed("s3cr3t-alice", docLocation), KindEncrypted, "encrypted, no key for bob/phone"},
	{"encrypted/too short", "owntracks/alice/phone", []byte(`{"_type":"encrypted","data":"` + base64.StdEncoding.EncodeToString(make([]byte, 12)) + `"}`), KindEncrypted, "encrypted data too short: 12 bytes, need at least 40"},
	{"encrypted/not base64", "owntracks/alice/phone", []byte(`{"_type":"encrypted","data":"AAAA!AAA"}`), KindEncrypted, "encrypted data is not base64: illegal byte 0x21 at offset 4"},
	{"encrypted/no data", "owntracks/alice/phone", []byte(`{"_type":"encrypted"}`), KindEncrypted, "encrypted has no data"},
	{"encrypted/tampered", "owntracks/alice/phone", bytes.Replace(sealed("s3cr3t-alice", docLocation), []byte(`"data":"AQID`), []byte(`"data":"AQIE`), 1), KindEncrypted, "encrypted, key for alice/phone does not open it"},
	{"encrypted/nested", "owntracks/alice/phone", sealed("s3cr3t-alice", string(sealed("s3cr3t-alice", docLocation))), KindEncrypted, "decrypted payload: nested encrypted payload"},
	{"encrypted/bad inside", "owntracks/alice/phone", sealed("s3cr3t-alice", `{"_type":"location","lat":91.2,"lon":13.4,"tst":1718000000}`), KindLocation, "decrypted payload: lat out of range: 91.2"},
	{"encrypted/not JSON inside", "owntracks/alice/phone", sealed("s3cr3t-alice", `hello`), "", "decrypted payload: not JSON: invalid character 'h' looking for beginning of value at byte 1"},
	{"encrypted/empty inside", "owntracks/alice/phone", sealed("s3cr3t-alice", ``), "", "decrypted payload is empty"},
}
