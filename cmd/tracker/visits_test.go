package main

import (
	"strings"
	"testing"
	"time"

	"tracker/projections/visits"
)

// The stay flags reach the web side as given; nonsense is refused by name.
func TestVisitFlags(t *testing.T) {
	tests := []struct {
		args []string
		want visits.Config
		err  string
	}{
		{nil, visits.Config{Radius: 100, MinStay: 5 * time.Minute, MaxGap: 30 * time.Minute}, ""},
		{[]string{"--stay-radius", "250", "--stay-min", "10m", "--stay-gap", "2h"}, visits.Config{Radius: 250, MinStay: 10 * time.Minute, MaxGap: 2 * time.Hour}, ""},
		{[]string{"--stay-radius", "0"}, visits.Config{}, "--stay-radius 0: want 10 to 5000 metres"},
		{[]string{"--stay-radius", "NaN"}, visits.Config{}, "--stay-radius NaN"},
		{[]string{"--stay-min", "10s"}, visits.Config{}, "--stay-min 10s: want 1m to 24h"},
		{[]string{"--stay-gap", "-1h"}, visits.Config{}, "--stay-gap -1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var c serveConfig
			fs := newFlagSet("serve", "", &strings.Builder{})
			c.flags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := c.visitFlags.config()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("config = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
