package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"golang.org/x/net/html"
)

// otrcConfig is an OwnTracks configuration as the tests read it back.
type otrcConfig struct {
	Type         string `json:"_type"`
	Mode         int    `json:"mode"`
	Host         string `json:"host"`
	Port         int    `json:"port"`
	TLS          *bool  `json:"tls"`
	URL          string `json:"url"`
	Auth         bool   `json:"auth"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	DeviceID     string `json:"deviceId"`
	TID          string `json:"tid"`
	PubTopicBase string `json:"pubTopicBase"`
}

// connectFixture is a server with an admin (root), a viewer (vera) and
// another user (bob).
type connectFixture struct {
	s    *server
	base string
}

const (
	rootPW = "root's password 1"
	veraPW = "vera's password 1"
	bobPW  = "bob's password 11"
)

func newConnectFixture(t *testing.T, extra ...string) connectFixture {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	for _, u := range []struct{ name, pw, admin string }{{"root", rootPW, "--admin"}, {"vera", veraPW, ""}, {"bob", bobPW, ""}} {
		args := []string{"add", u.name, "--password-stdin", "--data", data}
		if u.admin != "" {
			args = append(args, u.admin)
		}
		var out, errOut bytes.Buffer
		if err := runUserWith(t.Context(), args, strings.NewReader(u.pw+"\n"), &out, &errOut); err != nil {
			t.Fatalf("tracker user add %s: %v\n%s", u.name, err, errOut.String())
		}
	}
	s := startServer(t, data, append([]string{"--tiles", ""}, extra...)...)
	return connectFixture{s: s, base: "http://" + s.http}
}

// do sends a request as user (HTTP Basic) and returns status and body.
func (f connectFixture) do(t *testing.T, method, path, user, pw string, body io.Reader, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f connectFixture) form(t *testing.T, path, user, pw string, vals url.Values) (int, string) {
	t.Helper()
	return f.do(t, http.MethodPost, path, user, pw, strings.NewReader(vals.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
}

// madeConfig reads the configuration /connect made from its page: the QR
// code (decoded from the PNG with gozxing, an independent decoder) and
// the .otrc download, which must say the same.
func madeConfig(t *testing.T, page string) otrcConfig {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(testid, name string) string {
		var found string
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				var id, val string
				for _, a := range n.Attr {
					if a.Key == "data-testid" {
						id = a.Val
					}
					if a.Key == name {
						val = a.Val
					}
				}
				if id == testid && found == "" {
					found = val
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if found == "" {
			t.Fatalf("no %s with %s in the page:\n%s", testid, name, page)
		}
		return found
	}
	qrSrc, otrcHref := attr("qr", "src"), attr("otrc", "href")

	pngB64, ok := strings.CutPrefix(qrSrc, "data:image/png;base64,")
	if !ok {
		t.Fatalf("QR code src %.60q is not a PNG data URL", qrSrc)
	}
	pngBytes, err := base64.StdEncoding.DecodeString(pngB64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("QR code is not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	link := res.GetText()
	inline, ok := strings.CutPrefix(link, "owntracks:///config?inline=")
	if !ok {
		t.Fatalf("QR code holds %q, want owntracks:///config?inline=…", link)
	}
	if strings.ContainsAny(inline, "+/=") {
		t.Errorf("inline %q has + / or = unescaped; the apps' query parsers may change them", inline)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	fromQR, err := base64.StdEncoding.DecodeString(u.Query().Get("inline")) // standard base64, as iOS decodes it
	if err != nil {
		t.Fatalf("inline is not standard base64: %v", err)
	}

	otrcB64, ok := strings.CutPrefix(otrcHref, "data:application/octet-stream;base64,")
	if !ok {
		t.Fatalf(".otrc href %.60q is not a data URL", otrcHref)
	}
	fromFile, err := base64.StdEncoding.DecodeString(otrcB64)
	if err != nil {
		t.Fatal(err)
	}
	var a, b otrcConfig
	if err := json.Unmarshal(fromQR, &a); err != nil {
		t.Fatalf("QR configuration is not JSON: %v\n%s", err, fromQR)
	}
	if err := json.Unmarshal(fromFile, &b); err != nil {
		t.Fatalf(".otrc is not JSON: %v\n%s", err, fromFile)
	}
	if !reflect.DeepEqual(a, b) || !bytes.Equal(fromQR, fromFile) {
		t.Fatalf("QR code and .otrc differ:\nQR   %s\nfile %s", fromQR, fromFile)
	}
	return a
}

func configuredPhone(cfg otrcConfig, clientID string, lost chan<- error) (paho.Client, error) {
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://%s", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))).
		SetClientID(clientID).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetUsername(cfg.Username).SetPassword(cfg.Password)
	if lost != nil {
		opts.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	return c, tok.Error()
}

func locationJSON(lat, lon float64) []byte {
	return fmt.Appendf(nil, `{"_type":"location","lat":%v,"lon":%v,"tst":%d,"tid":"ve"}`, lat, lon, time.Now().Unix())
}

// waitFriendAs waits until viewer's friends API lists id.
func (f connectFixture) waitFriendAs(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if code, body := f.do(t, http.MethodGet, "/api/v1/friends", "root", rootPW, nil, nil); code == 200 && strings.Contains(body, `"`+id+`"`) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never appeared in the friends", id)
}

// TestConnectPhone: the configuration /connect makes decodes alike from
// the QR code and the .otrc; a phone set up with it is accepted over
// real MQTT and in HTTP mode, bound to its own user and device; revoking
// it closes its open MQTT session at once and refuses it on both; the
// secret shows nowhere after the page that made it.
func TestConnectPhone(t *testing.T) {
	f := newConnectFixture(t)
	_, mqttPort, _ := net.SplitHostPort(f.s.mqtt)

	// vera (a viewer) connects her phone in MQTT mode.
	code, page := f.form(t, "/connect", "vera", veraPW, url.Values{"device": {"phone"}, "mode": {"mqtt"}})
	if code != http.StatusOK {
		t.Fatalf("POST /connect: %d\n%s", code, page)
	}
	phoneCfg := madeConfig(t, page)
	tls := false
	want := otrcConfig{Type: "configuration", Mode: 0, Host: "127.0.0.1", Port: atoi(t, mqttPort), TLS: &tls, Auth: true,
		Username: "vera", Password: phoneCfg.Password, DeviceID: "phone", TID: "ve", PubTopicBase: "owntracks/%u/%d"}
	if !reflect.DeepEqual(phoneCfg, want) || len(phoneCfg.Password) < 20 {
		t.Fatalf("MQTT configuration = %+v, want %+v with a secret", phoneCfg, want)
	}
	if phoneCfg.Password == veraPW {
		t.Fatal("the configuration carries the user's password")
	}
	secrets := []string{phoneCfg.Password}

	// The phone, as configured, over real MQTT.
	lost := make(chan error, 1)
	phone, err := configuredPhone(phoneCfg, "vera-phone", lost)
	if err != nil {
		t.Fatalf("phone with the QR configuration refused on MQTT: %v", err)
	}
	t.Cleanup(func() { phone.Disconnect(100) })
	tok := phone.Publish("owntracks/vera/phone", 1, false, locationJSON(parkLat, parkLon))
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish as the phone: %v", tok.Error())
	}
	f.waitFriendAs(t, "vera/phone")

	// The same credential under another user's name, or publishing as
	// another device or user, is refused.
	if c, err := configuredPhone(otrcConfig{Host: phoneCfg.Host, Port: phoneCfg.Port, Username: "bob", Password: phoneCfg.Password}, "x1", nil); err == nil {
		c.Disconnect(10)
		t.Error("vera's device secret logged in as bob")
	}
	for _, topic := range []string{"owntracks/vera/tablet", "owntracks/bob/phone", "owntracks/bob/phone/cmd", "owntracks/vera/tablet/cmd"} {
		lostOther := make(chan error, 1)
		c, err := configuredPhone(phoneCfg, "vera-phone-"+strings.ReplaceAll(topic, "/", "-"), lostOther)
		if err != nil {
			t.Fatalf("connect: %v\n%s", err, f.s.stderr)
		}
		c.Publish(topic, 1, false, locationJSON(1, 1)).WaitTimeout(2 * time.Second)
		select {
		case <-lostOther:
		case <-time.After(5 * time.Second):
			t.Errorf("publish to %s with vera's phone credential was not refused", topic)
		}
		c.Disconnect(10)
	}
	// Another user's client id (bob's open session) cannot be taken.
	bobPhone, err := tryConnectMQTT(f.s.mqtt, "bob-phone", "bob", bobPW)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bobPhone.Disconnect(10) })
	if c, err := configuredPhone(phoneCfg, "bob-phone", nil); err == nil {
		c.Disconnect(10)
		t.Error("vera's phone credential took over bob's client id")
	}

	// HTTP mode, for her tablet.
	code, page = f.form(t, "/connect", "vera", veraPW, url.Values{"device": {"tablet"}, "mode": {"http"}, "tid": {"vt"}})
	if code != http.StatusOK {
		t.Fatalf("POST /connect (http): %d\n%s", code, page)
	}
	tabCfg := madeConfig(t, page)
	if tabCfg.Mode != 3 || tabCfg.URL != f.base+"/pub" || tabCfg.DeviceID != "tablet" || tabCfg.TID != "vt" || tabCfg.Username != "vera" {
		t.Fatalf("HTTP configuration = %+v", tabCfg)
	}
	secrets = append(secrets, tabCfg.Password)
	post := func(cfg otrcConfig, user, device string) int {
		t.Helper()
		hdr := map[string]string{"Content-Type": "application/json"}
		if device != "" {
			hdr["X-Limit-D"] = device
		}
		code, _ := f.do(t, http.MethodPost, strings.TrimPrefix(cfg.URL, f.base), user, cfg.Password, bytes.NewReader(locationJSON(parkLat, parkLon)), hdr)
		return code
	}
	if code := post(tabCfg, "vera", "tablet"); code != http.StatusOK {
		t.Fatalf("tablet in HTTP mode: %d, want 200", code)
	}
	f.waitFriendAs(t, "vera/tablet")
	for _, c := range []struct {
		user, device string
		want         int
	}{{"vera", "phone", http.StatusForbidden}, {"bob", "tablet", http.StatusUnauthorized}, {"bob", "", http.StatusUnauthorized}} {
		if code := post(tabCfg, c.user, c.device); code != c.want {
			t.Errorf("tablet's secret as %s/%s: %d, want %d", c.user, c.device, code, c.want)
		}
	}
	// A device secret is no web login.
	if code, _ := f.do(t, http.MethodGet, "/api/v1/friends", "vera", tabCfg.Password, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("device secret on the API: %d, want 401", code)
	}

	// The API: POST mints (with the secret), GET reads (without).
	code, body := f.do(t, http.MethodPost, "/api/v1/me/otrc?device=watch&mode=http&user=bob", "vera", veraPW, nil, nil)
	var apiCfg otrcConfig
	if code != http.StatusOK || json.Unmarshal([]byte(body), &apiCfg) != nil || apiCfg.Type != "configuration" || apiCfg.Password == "" || apiCfg.Username != "vera" {
		t.Fatalf("POST /api/v1/me/otrc: %d %s", code, body)
	}
	secrets = append(secrets, apiCfg.Password)
	code, body = f.do(t, http.MethodGet, "/api/v1/me/otrc?device=watch&mode=http", "vera", veraPW, nil, nil)
	if code != http.StatusOK || !strings.Contains(body, `"_type":"configuration"`) || strings.Contains(body, `"password"`) {
		t.Errorf("GET /api/v1/me/otrc: %d %s, want the configuration without the secret", code, body)
	}
	if code, _ := f.do(t, http.MethodGet, "/api/v1/me/otrc?device=nosuch&mode=mqtt", "vera", veraPW, nil, nil); code != http.StatusNotFound {
		t.Errorf("GET for a device without credential: %d, want 404", code)
	}

	// Revoke the phone: its open MQTT session closes at once, a new
	// login is refused, and so is HTTP mode for a revoked tablet.
	me := func() string {
		t.Helper()
		code, page := f.do(t, http.MethodGet, "/me", "vera", veraPW, nil, map[string]string{"Accept": "text/html"})
		if code != 200 {
			t.Fatalf("/me: %d", code)
		}
		return page
	}
	credOf := func(page, device string) string {
		t.Helper()
		i := strings.Index(page, `data-device="`+device+`"`)
		if i < 0 {
			t.Fatalf("/me does not list %s", device)
		}
		_, after, _ := strings.Cut(page[i:], `name="credential" value="`)
		id, _, _ := strings.Cut(after, `"`)
		return id
	}
	page = me()
	phoneCred, tabCred := credOf(page, "phone"), credOf(page, "tablet")
	if !strings.Contains(page, `data-testid="last-use"><time`) {
		t.Errorf("/me shows no last use for the phones that posted")
	}
	revoked := time.Now()
	if code, _ := f.form(t, "/me/devices/revoke", "vera", veraPW, url.Values{"device": {"phone"}, "credential": {phoneCred}}); code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", code)
	}
	select {
	case <-lost:
		t.Logf("revoked phone's MQTT session closed %v after the revoke was sent", time.Since(revoked).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked phone's MQTT session stayed open")
	}
	if c, err := configuredPhone(phoneCfg, "vera-phone", nil); err == nil {
		c.Disconnect(10)
		t.Error("revoked credential logged in on MQTT")
	}
	f.form(t, "/me/devices/revoke", "vera", veraPW, url.Values{"device": {"tablet"}, "credential": {tabCred}})
	if code := post(tabCfg, "vera", "tablet"); code != http.StatusUnauthorized {
		t.Errorf("revoked tablet in HTTP mode: %d, want 401", code)
	}
	// Revoking again is harmless: no new event, same answer.
	_, before := f.do(t, http.MethodGet, "/api/v1/events?limit=1000", "root", rootPW, nil, nil)
	for range 2 {
		if code, _ := f.form(t, "/me/devices/revoke", "vera", veraPW, url.Values{"device": {"phone"}, "credential": {phoneCred}}); code != http.StatusSeeOther {
			t.Errorf("repeated revoke: %d, want 303", code)
		}
	}
	_, after := f.do(t, http.MethodGet, "/api/v1/events?limit=1000", "root", rootPW, nil, nil)
	if strings.Count(after, "tracker/admin/account") != strings.Count(before, "tracker/admin/account") {
		t.Error("a repeated revoke recorded another event")
	}
	// Bob cannot revoke vera's credential: the form acts on bob's own.
	watchCred := credOf(me(), "watch")
	f.form(t, "/me/devices/revoke", "bob", bobPW, url.Values{"device": {"watch"}, "credential": {watchCred}})
	if !strings.Contains(me(), `data-device="watch"`) {
		t.Error("bob revoked vera's credential")
	}

	// The secrets appear in no log event, no log line and no later page.
	_, events := f.do(t, http.MethodGet, "/api/v1/events?limit=1000", "root", rootPW, nil, nil)
	_, connectPage := f.do(t, http.MethodGet, "/connect", "vera", veraPW, nil, map[string]string{"Accept": "text/html"})
	for _, sec := range secrets {
		for what, text := range map[string]string{"the event log": events, "the server's log": f.s.stderr.String(), "/me": me(), "/connect": connectPage} {
			if strings.Contains(text, sec) {
				t.Errorf("a device secret appears in %s", what)
			}
		}
	}
	if !strings.Contains(events, "sha256:") {
		t.Error("the log holds no credential hash")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
