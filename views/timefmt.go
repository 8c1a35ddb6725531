package views

import (
	"net/http"
	"time"
)

// How a <time> element reads. The server renders the text in the viewer's
// zone (Page.Now's location); static/js/app.js re-renders every
// time[data-fmt] in the browser's own zone with the same rules and keeps
// "ago" texts current, so one format family holds across the site.
const (
	FmtAgo   = "ago"   // "just now", "4 min ago", "3 h ago", "2 days ago"
	FmtWhen  = "when"  // "14:05" today, "Mon 3 Mar 14:05" this year, "3 Mar 2025 14:05" before
	FmtFull  = "full"  // "Mon 3 Mar 2025 14:05:09": tables and tooltips
	FmtDay   = "day"   // "Mon 3 Mar 2025"
	FmtClock = "clock" // "14:05:09"
	FmtHM    = "hm"    // "14:05": times within a day told elsewhere (the history's day story)
)

// TZCookie carries the browser's IANA zone (set by app.js), so pages render
// in the viewer's time from the first byte.
const TZCookie = "tz"

// ViewerLocation is the zone a request's viewer reads times in: the
// browser's zone from TZCookie when it names a real zone, else fallback.
func ViewerLocation(r *http.Request, fallback *time.Location) *time.Location {
	c, err := r.Cookie(TZCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return fallback
	}
	loc, err := time.LoadLocation(c.Value)
	if err != nil {
		return fallback
	}
	return loc
}

// FormatTime renders t for a viewer whose clock reads now (in the viewer's
// location) in one of the Fmt* formats.
func FormatTime(t, now time.Time, format string) string {
	if t.IsZero() {
		return "never"
	}
	t = t.In(now.Location())
	switch format {
	case FmtAgo:
		return Ago(now, t)
	case FmtFull:
		return t.Format("Mon 2 Jan 2006 15:04:05")
	case FmtDay:
		return t.Format("Mon 2 Jan 2006")
	case FmtClock:
		return t.Format("15:04:05")
	case FmtHM:
		return t.Format("15:04")
	}
	ny, nm, nd := now.Date()
	y, m, d := t.Date()
	switch {
	case y == ny && m == nm && d == nd:
		return t.Format("15:04")
	case y == ny:
		return t.Format("Mon 2 Jan 15:04")
	}
	return t.Format("2 Jan 2006 15:04")
}

// ISOTime is a <time datetime> value.
func ISOTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
