package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"
	"tracker/events/eventstest"
)

// requireChromium returns the path of a Chromium binary. Without one the
// test skips, unless CI is set: then a missing browser is a failure, so
// the browser tests cannot silently stop running.
func requireChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("CI is set but no Chromium was found (neither /usr/bin/chromium nor chromium in PATH): install it, e.g. apt-get install chromium")
			}
			t.Skip("no Chromium (/usr/bin/chromium or chromium in PATH); set CI=1 to make this a failure")
		}
	}
	return path
}

// browser is one headless Chromium with one tab, closed in t.Cleanup.
type browser struct {
	ctx context.Context // the tab's chromedp context

	mu          sync.Mutex
	exceptions  []string // uncaught JavaScript exceptions on any page
	console     []string // console errors and warnings
	lastPollErr error
}

// newBrowser starts Chromium with a fresh profile in t.TempDir() and opens
// a tab. Uncaught exceptions on the page fail the test at cleanup.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	execPath := requireChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium-profile")),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{ctx: ctx}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("uncaught JavaScript exception: %s", e)
		}
		if len(b.console) > 0 {
			t.Logf("the pages logged %d console errors and warnings; first ones:\n%s", len(b.console), strings.Join(b.console[:min(len(b.console), 5)], "\n"))
		}
	})
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("start Chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.mu.Lock()
			b.exceptions = append(b.exceptions, exceptionText(ev.ExceptionDetails))
			b.mu.Unlock()
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeWarning {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			b.mu.Lock()
			b.console = append(b.console, string(ev.Type)+": "+strings.Join(parts, " "))
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	return b
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "?"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d)", s, d.URL, d.LineNumber+1)
}

// do runs steps with a time limit, failing the test on error.
func (b *browser) do(t *testing.T, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript predicate every 10 ms until it is truthy or
// the deadline passes; it returns how long it took and whether it held.
func (b *browser) waitJS(deadline time.Time, predicate string) (time.Duration, bool) {
	start := time.Now()
	limit := time.Until(deadline)
	if limit < time.Millisecond {
		limit = time.Millisecond
	}
	// The page stops polling at its own timeout; the context only guards
	// against a page that never answers.
	ctx, cancel := context.WithDeadline(b.ctx, deadline.Add(5*time.Second))
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(limit)))
	if err != nil {
		b.mu.Lock()
		b.lastPollErr = err
		b.mu.Unlock()
	}
	return time.Since(start), err == nil
}

// mustWaitJS is waitJS failing the test, with what the page shows.
func (b *browser) mustWaitJS(t *testing.T, limit time.Duration, what, predicate string) time.Duration {
	t.Helper()
	took, ok := b.waitJS(time.Now().Add(limit), predicate)
	if !ok {
		t.Fatalf("%s: not within %v (predicate %s)\npage text:\n%s", what, limit, predicate, b.pageText(t))
	}
	return took
}

// pageText is what the page shows, for failure messages.
func (b *browser) pageText(t *testing.T) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("(page text unavailable: %v)", err)
	}
	return s
}

// open navigates to url and waits until the live connection is open
// (#live-status reads "live").
func (b *browser) open(t *testing.T, url string) {
	t.Helper()
	b.do(t, 15*time.Second, chromedp.Navigate(url))
	b.mustWaitJS(t, 10*time.Second, "live connection open", liveJS)
}

// liveJS is true when the page says its websocket is open.
const liveJS = `(function(){var s=document.getElementById("live-status");return !!s && s.textContent.trim()==="live";})()`

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// friendRowJS selects a friend's row by device id ("user/device").
func friendRowJS(id string) string {
	return fmt.Sprintf(`document.querySelector('[data-testid="friend"][data-friend=' + JSON.stringify(%s) + ']')`, jsString(id))
}

// setColorScheme emulates prefers-color-scheme: "light" or "dark".
func setColorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// screenshotDir is testout/screenshots at the repository root (git-ignored).
func screenshotDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(wd, "..", "..", "testout", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// location is an OwnTracks location payload.
type location struct {
	Type string  `json:"_type"`
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
	Tst  int64   `json:"tst"`
	TID  string  `json:"tid,omitempty"`
	Acc  int     `json:"acc,omitempty"`
	Batt int     `json:"batt,omitempty"`
	Vel  int     `json:"vel,omitempty"`
	T    string  `json:"t,omitempty"` // trigger: "p" ping, "r" response to reportLocation, "u" manual
}

func publishLocation(t *testing.T, c paho.Client, id string, l location) {
	t.Helper()
	l.Type = "location"
	b, _ := json.Marshal(l)
	eventstest.Publish(t, c, "owntracks/"+id, 1, false, b)
}

// defineArea defines a server area through the API.
func defineArea(t *testing.T, base, name string, lat, lon, radius float64) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"center":{"lat":%g,"lon":%g},"radius":%g}`, name, lat, lon, radius)
	resp, err := httpClient.Post(base+"/api/v1/areas", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("define area %q: %s: %s", name, resp.Status, b)
	}
}

// getStatus returns the status code of GET url.
func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// httpClient is for the tests' own requests.
var httpClient = &http.Client{Timeout: 10 * time.Second}
