package main

// Areas drawn on the map (issue 14): an admin draws a circle and a
// polygon with the mouse on /areas, sees who was inside before saving,
// and finds them in /api/v1/areas; moves, resizes and renames one (one
// event), deletes the other. A viewer sees none of the controls and gets
// 403 from every route they call. No Content-Security-Policy violation
// on the way.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"tracker/projections/geo"
)

// cspRecorderJS runs before every page's own scripts and keeps each
// Content-Security-Policy violation in sessionStorage, so reloads (a save
// reloads the page) do not lose them.
const cspRecorderJS = `document.addEventListener("securitypolicyviolation", function (e) {
	var all = JSON.parse(sessionStorage.getItem("csp-violations") || "[]");
	all.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
	sessionStorage.setItem("csp-violations", JSON.stringify(all));
});`

// pxJS returns the page coordinates of a map position.
func pxJS(lat, lon float64) string {
	return fmt.Sprintf(`(function(){var m=document.getElementById("map"), p=m.trackerMap.latLngToContainerPoint([%g,%g]), r=m.getBoundingClientRect();
		return {X: r.left + p.x, Y: r.top + p.y};})()`, lat, lon)
}

type pt struct{ X, Y float64 }

// mouse drives the real mouse: every move is a series of steps, so
// Leaflet and Geoman see the pointer travel as a person's would.
type mouse struct {
	b    *browser
	at   pt
	down bool
}

func (m *mouse) moveTo(t *testing.T, to pt) {
	t.Helper()
	const steps = 8
	from := m.at
	for i := 1; i <= steps; i++ {
		f := float64(i) / steps
		x, y := from.X+f*(to.X-from.X), from.Y+f*(to.Y-from.Y)
		m.b.do(t, 5*time.Second, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y, func(p *input.DispatchMouseEventParams) {
			if m.down {
				p.Button, p.Buttons = input.MouseButtonLeft, 1
			}
		}))
	}
	m.at = to
}

func (m *mouse) press(t *testing.T) {
	t.Helper()
	m.b.do(t, 5*time.Second, chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, m.at.X, m.at.Y, chromedp.ButtonType(input.MouseButtonLeft), chromedp.ClickCount(1)))
	m.down = true
}

func (m *mouse) release(t *testing.T) {
	t.Helper()
	m.b.do(t, 5*time.Second, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, m.at.X, m.at.Y, chromedp.ButtonType(input.MouseButtonLeft), chromedp.ClickCount(1)))
	m.down = false
}

func (m *mouse) clickAt(t *testing.T, to pt) {
	t.Helper()
	m.moveTo(t, to)
	m.press(t)
	m.release(t)
	m.b.do(t, 5*time.Second, chromedp.Sleep(60*time.Millisecond)) // Leaflet tells a click from a double click
}

func (m *mouse) drag(t *testing.T, from, to pt) {
	t.Helper()
	m.moveTo(t, from)
	m.press(t)
	m.moveTo(t, pt{from.X + 3, from.Y + 3}) // past Leaflet's drag threshold
	m.moveTo(t, to)
	m.release(t)
}

// areaAPI is an area as GET /api/v1/areas lists it.
type areaAPI struct {
	ID       string      `json:"id"`
	Name     string      `json:"name"`
	Origin   string      `json:"origin"`
	Center   *geo.Point  `json:"center"`
	Radius   float64     `json:"radius"`
	Polygon  []geo.Point `json:"polygon"`
	Formerly []struct {
		ID string `json:"id"`
	} `json:"formerly"`
}

func (f *pagesFixture) areas(t *testing.T) map[string]areaAPI {
	t.Helper()
	resp, err := f.get(t, pagesAdmin, "/api/v1/areas")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []areaAPI
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]areaAPI{}
	for _, a := range list {
		if a.Origin == "server" {
			out[a.Name] = a
		}
	}
	return out
}

// adminAreaEvents counts the area commands in the log.
func (f *pagesFixture) adminAreaEvents(t *testing.T) int {
	t.Helper()
	resp, err := f.get(t, pagesAdmin, "/api/v1/events?limit=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Count(string(b), `"topic":"tracker/admin/area"`)
}

// waitArea polls the API until check holds for the areas listed.
func (f *pagesFixture) waitArea(t *testing.T, what string, check func(map[string]areaAPI) bool) map[string]areaAPI {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		as := f.areas(t)
		if check(as) {
			return as
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the API lists %+v", what, as)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// typeName replaces the name in the form by typing name.
func typeName(t *testing.T, b *browser, name string) {
	t.Helper()
	_ = eval[bool](t, b, `(document.getElementById("area-name").value = "", true)`)
	b.do(t, 5*time.Second, chromedp.SendKeys(`#area-name`, name))
}

// editorReadyJS is true once the admin's map has Geoman's toolbar.
const editorReadyJS = `(function(){ try {
	return document.readyState === "complete" && !!document.getElementById("map").trackerMap &&
		!!document.querySelector(".leaflet-pm-toolbar") && !document.querySelector('[data-testid="draw-circle"]').disabled;
} catch (e) { return false; } })()`

// editorReady waits for the admin's map with Geoman's toolbar.
func editorReady(t *testing.T, b *browser) {
	t.Helper()
	waitThroughNavigation(t, b, 10*time.Second, "the drawing tools", editorReadyJS)
}

// clickAndReload clicks sel, which saves and reloads the page, and waits
// for the new page's drawing tools.
func clickAndReload(t *testing.T, b *browser, sel string) {
	t.Helper()
	_ = eval[bool](t, b, `(window.__beforeSave = true)`)
	b.do(t, 5*time.Second, chromedp.Click(sel))
	waitThroughNavigation(t, b, 10*time.Second, "the page reloaded after saving", `!window.__beforeSave && `+editorReadyJS)
}

// setView puts the map at lat, lon, zoom at once (no animation).
func setView(t *testing.T, b *browser, lat, lon float64, zoom int) {
	t.Helper()
	_ = eval[bool](t, b, fmt.Sprintf(`(document.getElementById("map").trackerMap.setView([%g,%g], %d, {animate:false}), true)`, lat, lon, zoom))
}

// north returns the point d metres north of (lat, lon).
func north(lat, lon, d float64) (float64, float64) {
	return lat + d/geo.EarthRadius*180/math.Pi, lon
}

func TestAreasDrawnOnTheMap(t *testing.T) {
	b := newBrowser(t)
	f := startPagesFixture(t, false)
	b.do(t, 5*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorderJS})
		return err
	}))
	f.loginBrowser(t, b, pagesAdmin)
	b.do(t, 15*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(f.base+"/areas"))
	editorReady(t, b)
	m := &mouse{b: b, at: pt{5, 5}}
	before := f.adminAreaEvents(t)

	// A circle, drawn with the mouse: a click at the centre, a click at
	// the edge 60 m north.
	setView(t, b, deskLat, deskLon, 17)
	b.do(t, 5*time.Second, chromedp.Click(`[data-testid="draw-circle"]`))
	b.mustWaitJS(t, 2*time.Second, "circle drawing on", `document.getElementById("map").trackerMap.pm.globalDrawModeEnabled()`)
	m.clickAt(t, eval[pt](t, b, pxJS(deskLat, deskLon)))
	m.clickAt(t, eval[pt](t, b, pxJS(north(deskLat, deskLon, 60))))
	b.mustWaitJS(t, 3*time.Second, "the form for the new circle", `!document.querySelector('[data-testid="area-form"]').hidden`)
	// Before saving: who was inside over the last days.
	b.mustWaitJS(t, 5*time.Second, "the preview names Ada", `!!document.querySelector('[data-testid="preview-friend"][data-friend="ada/phone"]')`)
	if got := eval[string](t, b, `document.querySelector('[data-testid="shape-text"]').textContent`); !strings.HasPrefix(got, "Circle, radius ") {
		t.Errorf("shape text %q", got)
	}
	b.do(t, 5*time.Second, chromedp.SendKeys(`#area-name`, "Gym"))
	clickAndReload(t, b, `[data-testid="save-area"]`)
	as := f.waitArea(t, "Gym saved", func(as map[string]areaAPI) bool { _, ok := as["Gym"]; return ok })
	gym := as["Gym"]
	if gym.Center == nil || geo.Distance(*gym.Center, geo.Point{Lat: deskLat, Lon: deskLon}) > 5 || math.Abs(gym.Radius-60) > 5 {
		t.Errorf("Gym = %+v, want a circle of 60 m (± 5) at the desk", gym)
	}

	// A polygon: four clicks around the park and one on the first corner.
	setView(t, b, parkLat, parkLon, 16)
	b.do(t, 5*time.Second, chromedp.Click(`[data-testid="draw-polygon"]`))
	corners := [][2]float64{{parkLat - 0.0015, parkLon - 0.002}, {parkLat - 0.0015, parkLon + 0.002}, {parkLat + 0.0015, parkLon + 0.002}, {parkLat + 0.0015, parkLon - 0.002}}
	for _, c := range corners {
		m.clickAt(t, eval[pt](t, b, pxJS(c[0], c[1])))
	}
	m.clickAt(t, eval[pt](t, b, pxJS(corners[0][0], corners[0][1])))
	b.mustWaitJS(t, 3*time.Second, "the form for the new polygon", `!document.querySelector('[data-testid="area-form"]').hidden`)
	b.mustWaitJS(t, 5*time.Second, "the preview names Victor (in the park)", `!!document.querySelector('[data-testid="preview-friend"][data-friend="vic/phone"]')`)
	b.do(t, 5*time.Second, chromedp.SendKeys(`#area-name`, "Lawn"))
	clickAndReload(t, b, `[data-testid="save-area"]`)
	as = f.waitArea(t, "Lawn saved", func(as map[string]areaAPI) bool { _, ok := as["Lawn"]; return ok })
	if lawn := as["Lawn"]; len(lawn.Polygon) != 4 || lawn.Center != nil {
		t.Errorf("Lawn = %+v, want a polygon of 4 corners", lawn)
	} else {
		for i, c := range corners {
			if d := geo.Distance(lawn.Polygon[i], geo.Point{Lat: c[0], Lon: c[1]}); d > 5 {
				t.Errorf("Lawn's corner %d is %.1f m from where it was clicked", i+1, d)
			}
		}
	}
	if n := f.adminAreaEvents(t); n != before+2 {
		t.Errorf("%d area events for two new areas, want 2", n-before)
	}

	// Gym: moved (its centre dragged 40 m north), resized (its edge
	// handle dragged out) and renamed Fitness, saved as one event.
	before = f.adminAreaEvents(t)
	setView(t, b, deskLat, deskLon, 17)
	b.do(t, 5*time.Second, chromedp.Click(`[data-edit-area="Gym"]`))
	b.mustWaitJS(t, 3*time.Second, "Gym in the form", `document.getElementById("area-name").value === "Gym" && !document.querySelector('[data-testid="delete-area"]').hidden`)
	setView(t, b, deskLat, deskLon, 17) // the button scrolled the map into view
	c0 := eval[pt](t, b, pxJS(deskLat, deskLon))
	m.drag(t, c0, eval[pt](t, b, pxJS(north(deskLat, deskLon, 40))))
	movedLat, _ := north(deskLat, deskLon, 40)
	b.mustWaitJS(t, 3*time.Second, "the circle moved", fmt.Sprintf(`Math.abs(JSON.parse(document.getElementById("map").dataset.drawn).center.lat - %g) < 0.0001`, movedLat))
	edge := eval[pt](t, b, `(function(){var m=document.getElementById("map"), map=m.trackerMap, r=m.getBoundingClientRect(), out=null;
		map.eachLayer(function(l){ if (l instanceof L.Circle && l.pm && l.pm.enabled()) { var e=l.pm._outerMarker.getLatLng(), p=map.latLngToContainerPoint(e); out={X:r.left+p.x, Y:r.top+p.y}; } });
		return out;})()`)
	m.drag(t, edge, pt{edge.X + (edge.X - eval[pt](t, b, pxJS(movedLat, deskLon)).X), edge.Y + (edge.Y - eval[pt](t, b, pxJS(movedLat, deskLon)).Y)})
	b.mustWaitJS(t, 3*time.Second, "the circle resized", `JSON.parse(document.getElementById("map").dataset.drawn).radius > 100`)
	b.mustWaitJS(t, 5*time.Second, "the preview of the new shape", `document.querySelector('[data-testid="preview"]').dataset.state === "done"`)
	typeName(t, b, "Fitness")
	clickAndReload(t, b, `[data-testid="save-area"]`)
	as = f.waitArea(t, "Gym renamed Fitness", func(as map[string]areaAPI) bool { _, ok := as["Fitness"]; return ok })
	fit := as["Fitness"]
	if _, still := as["Gym"]; still {
		t.Errorf("Gym is still listed beside Fitness")
	}
	if fit.Center == nil || geo.Distance(*fit.Center, geo.Point{Lat: movedLat, Lon: deskLon}) > 5 || math.Abs(fit.Radius-120) > 10 {
		t.Errorf("Fitness = %+v, want a circle of about 120 m 40 m north of the desk", fit)
	}
	if len(fit.Formerly) != 1 || fit.Formerly[0].ID != "s:gym" {
		t.Errorf("Fitness was formerly %+v, want s:gym", fit.Formerly)
	}
	if n := f.adminAreaEvents(t); n != before+1 {
		t.Errorf("the move, resize and rename took %d events, want 1", n-before)
	}

	// A name taken by another area is refused before anything is sent.
	b.do(t, 5*time.Second, chromedp.Click(`[data-edit-area="Fitness"]`))
	b.mustWaitJS(t, 3*time.Second, "Fitness in the form", `document.getElementById("area-name").value === "Fitness"`)
	typeName(t, b, "lawn")
	b.do(t, 5*time.Second, chromedp.Click(`[data-testid="save-area"]`))
	b.mustWaitJS(t, 3*time.Second, "the name is refused", `document.querySelector('[data-testid="form-error"]').textContent.indexOf("already an area named") >= 0`)
	b.do(t, 5*time.Second, chromedp.Click(`[data-testid="cancel-area"]`))

	// The radius typed in, for keyboards and exact sizes.
	b.do(t, 5*time.Second, chromedp.Click(`[data-edit-area="Fitness"]`))
	b.mustWaitJS(t, 3*time.Second, "Fitness's radius in the form", `document.getElementById("area-radius").value !== "" && !document.querySelector(".radius-field").hidden`)
	_ = eval[bool](t, b, `(document.getElementById("area-radius").value = "", true)`)
	b.do(t, 5*time.Second, chromedp.SendKeys(`#area-radius`, "250"))
	b.mustWaitJS(t, 3*time.Second, "the circle follows the radius typed", `JSON.parse(document.getElementById("map").dataset.drawn).radius === 250`)
	clickAndReload(t, b, `[data-testid="save-area"]`)
	f.waitArea(t, "Fitness resized to 250 m", func(as map[string]areaAPI) bool { return as["Fitness"].Radius == 250 })

	// Lawn deleted, after a confirmation.
	b.do(t, 5*time.Second, chromedp.Click(`[data-edit-area="Lawn"]`))
	b.mustWaitJS(t, 3*time.Second, "Lawn in the form", `document.getElementById("area-name").value === "Lawn"`)
	b.do(t, 5*time.Second, chromedp.Click(`[data-testid="delete-area"]`))
	b.mustWaitJS(t, 3*time.Second, "asked to confirm", `!document.querySelector('[data-testid="confirm-delete"]').hidden`)
	clickAndReload(t, b, `[data-testid="confirm-delete-area"]`)
	f.waitArea(t, "Lawn deleted", func(as map[string]areaAPI) bool { _, ok := as["Lawn"]; return !ok })

	// Escape leaves the drawing mode without a shape.
	b.do(t, 5*time.Second, chromedp.Click(`[data-testid="draw-polygon"]`), chromedp.KeyEvent(kb.Escape))
	b.mustWaitJS(t, 2*time.Second, "drawing cancelled", `!document.getElementById("map").trackerMap.pm.globalDrawModeEnabled()`)

	if v := eval[string](t, b, `sessionStorage.getItem("csp-violations") || ""`); v != "" && v != "[]" {
		t.Errorf("Content-Security-Policy violations on /areas: %s", v)
	}

	// A viewer: no drawing controls, and 403 from each route.
	f.loginBrowser(t, b, pagesViewer)
	b.do(t, 15*time.Second, chromedp.Navigate(f.base+"/areas"))
	b.mustWaitJS(t, 10*time.Second, "the viewer's map", `document.readyState === "complete" && !!document.querySelector(".leaflet-container")`)
	controls := eval[[]string](t, b, `["#area-editor", "[data-edit-area]", "[data-draw]", ".leaflet-pm-toolbar", "script[src*='geoman']", "script[src*='areas-edit']"]
		.filter(function(s){ return !!document.querySelector(s); })`)
	if len(controls) > 0 || eval[bool](t, b, `typeof L.PM !== "undefined"`) {
		t.Errorf("the viewer's /areas has drawing controls: %v", controls)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int](`(async function(){
		var out = {}, h = {"Content-Type": "application/json", "X-Requested-With": "fetch"};
		var reqs = [["POST", "/api/v1/areas", {name: "X", center: {lat: 1, lon: 1}, radius: 10}],
			["POST", "/api/v1/areas/preview", {center: {lat: 1, lon: 1}, radius: 10}],
			["POST", "/api/v1/areas/Fitness/rename", {to: "Y"}],
			["DELETE", "/api/v1/areas/Fitness", null]];
		for (var i = 0; i < reqs.length; i++) {
			var r = await fetch(reqs[i][1], {method: reqs[i][0], headers: h, credentials: "same-origin", body: reqs[i][2] ? JSON.stringify(reqs[i][2]) : undefined});
			out[reqs[i][0] + " " + reqs[i][1]] = r.status;
		}
		return out;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 4 {
		t.Errorf("the viewer's requests: %v", codes)
	}
	for route, code := range codes {
		if code != http.StatusForbidden {
			t.Errorf("viewer %s: %d, want 403", route, code)
		}
	}
	if _, ok := f.areas(t)["Fitness"]; !ok {
		t.Errorf("Fitness is gone after the viewer's requests")
	}
}

// TestAreasDrawScreenshots saves /areas with the drawing panel open at
// 390 and 1280 px, light and dark, when TRACKER_SCREENSHOTS names a
// directory (`go tool task screenshots`).
func TestAreasDrawScreenshots(t *testing.T) {
	dir := os.Getenv("TRACKER_SCREENSHOTS")
	if dir == "" {
		t.Skip("set TRACKER_SCREENSHOTS=DIR to save screenshots")
	}
	b := newBrowser(t)
	f := startPagesFixture(t, false)
	f.loginBrowser(t, b, pagesAdmin)
	for _, w := range []struct{ width, height int64 }{{390, 844}, {1280, 800}} {
		var opts []chromedp.EmulateViewportOption
		if w.width <= 390 {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		b.do(t, 15*time.Second, chromedp.EmulateViewport(w.width, w.height, opts...), chromedp.Navigate(f.base+"/areas"))
		editorReady(t, b)
		b.do(t, 5*time.Second, chromedp.Click(`[data-edit-area="Office"]`))
		b.mustWaitJS(t, 5*time.Second, "the preview", `document.querySelector('[data-testid="preview"]').dataset.state === "done"`)
		for _, scheme := range []string{"light", "dark"} {
			b.do(t, 5*time.Second, setColorScheme(scheme))
			settle(t, b)
			screenshot(t, b, filepath.Join(dir, fmt.Sprintf("areas-draw-%d-%s.png", w.width, scheme)))
		}
	}
}
