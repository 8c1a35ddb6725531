package views

import (
	"fmt"
	"net/url"
	"time"

	"github.com/a-h/templ"

	"tracker/projections"
)

// ShareURLFor is /share with dev chosen in its form (the history page's
// "Share this live location").
func ShareURLFor(dev projections.DeviceID) templ.SafeURL {
	return templ.SafeURL("/share?friend=" + url.QueryEscape(string(dev)))
}

// ShareManagePage is /share: the viewer's share links and the form that
// makes one ("share my location for 1 hour / until I arrive / until a
// time"; admins: any friend's).
type ShareManagePage struct {
	Page
	// Friends are those the viewer may share: their own devices, every
	// friend for an admin.
	Friends []ShareFriend
	// Places are the areas a link may end at ("until I arrive at").
	Places []string
	Links  []ShareRow
	// Friend, For, Until, Place are the form's values.
	Friend, For, Until, Place string
	// Made is the link just made, shown once; nil otherwise.
	Made    *ShareMade
	Done    string // what the last action did
	Message string // why the last action failed
	// NoAccount: open mode; links are made on the command line there.
	NoAccount bool
}

// ShareFriend is a friend the form offers.
type ShareFriend struct {
	ID   string // user/device
	Name string // display name
}

// ShareMade is a link just made: the only time its URL is shown.
type ShareMade struct {
	URL    string
	Friend string
	Until  time.Time
	Place  string // "until arriving at", when set
}

// ShareRow is one link in the list.
type ShareRow struct {
	ID      string
	Friend  string // display name and user/device
	Owner   string
	Created time.Time
	Until   time.Time // expiry, or the moment it ended
	Place   string    // the place it ends at, when set
	Status  string    // "live", "expired", "revoked", "arrived", "not allowed"
	Live    bool
	Views   int64
	Last    time.Time // last view; zero when never viewed
}

// ViewsText is the views count in words.
func (r ShareRow) ViewsText() string {
	if r.Views == 1 {
		return "1 view"
	}
	return fmt.Sprintf("%d views", r.Views)
}

// ShareViewPage is the public page of a share link (/s/{token}): one
// friend on a map, nothing else.
type ShareViewPage struct {
	Assets Assets
	Tiles  Tiles
	Now    time.Time
	Name   string // the friend's display name
	// StreamURL and TrackURL are the link's live stream and its trail
	// since the link started.
	StreamURL, TrackURL string
	Expires             time.Time
	// UntilArrival: the link also ends when the friend arrives at the
	// place its maker chose (not named here).
	UntilArrival bool
	Views        int64
	Fix          *ShareFix // the friend's current position; nil when unknown
}

// ShareFix is a position as the share page shows it.
type ShareFix struct {
	Lat, Lon float64
	Acc      int // m; 0 when unknown
	At       time.Time
}

// ViewsText is the views count in words.
func (p ShareViewPage) ViewsText() string {
	return ShareRow{Views: p.Views}.ViewsText()
}

// ShareGonePage answers a link that no longer or never worked.
type ShareGonePage struct {
	Assets  Assets
	Code    int
	Title   string
	Message string
}
