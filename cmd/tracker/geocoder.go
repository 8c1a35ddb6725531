package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"tracker/views/nominatim"
	"tracker/views/web"
)

// geocoderFlags configure the optional street geocoder (serve).
type geocoderFlags struct {
	GeocoderURL      string
	GeocoderInterval time.Duration
}

func (c *geocoderFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.GeocoderURL, "geocoder-url", "", "base `URL` of a Nominatim-compatible reverse geocoder (/reverse?format=jsonv2) naming street addresses for the Recorder API's addr, asked in the background and cached in the data directory; it learns the positions asked about. Empty: none (countries and towns are named offline)")
	fs.DurationVar(&c.GeocoderInterval, "geocoder-interval", time.Second, "least `time` between two requests to --geocoder-url (Nominatim's public service allows one a second)")
}

// geocoder is the street geocoder, or none.
type geocoder struct{ book *nominatim.Book }

// newGeocoder makes the geocoder --geocoder-url asks for; none without it.
func newGeocoder(c geocoderFlags, data dataDir, logger *slog.Logger) (geocoder, error) {
	if c.GeocoderURL == "" {
		return geocoder{}, nil
	}
	b, err := nominatim.New(nominatim.Config{
		URL: c.GeocoderURL, Interval: c.GeocoderInterval, File: data.path("geocoder-cache.jsonl"),
		UserAgent: "tracker (self-hosted OwnTracks server)", Logger: logger.With("component", "geocoder"),
	})
	return geocoder{book: b}, err
}

// addresses is what the web side reads addresses from (nil for none: an
// interface holding a nil *Book would not be nil).
func (g geocoder) addresses() web.AddressBook {
	if g.book == nil {
		return nil
	}
	return g.book
}

// run starts the geocoder's worker in g, if there is one.
func (g geocoder) run(ctx context.Context, grp *errgroup.Group) {
	if g.book != nil {
		grp.Go(func() error { return g.book.Run(ctx) })
	}
}
