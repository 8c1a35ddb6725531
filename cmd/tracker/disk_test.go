package main

import "testing"

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		bad  bool
	}{
		{in: "8MB", want: 8 << 20},
		{in: "1GB", want: 1 << 30},
		{in: "1gb", want: 1 << 30},
		{in: "512KB", want: 512 << 10},
		{in: "1.5GiB", want: 3 << 29},
		{in: "4096", want: 4096},
		{in: "100 MB", want: 100 << 20},
		{in: "0", want: 0},
		{in: "", bad: true},
		{in: "MB", bad: true},
		{in: "8XB", bad: true},
		{in: "-1MB", bad: true},
		{in: "99999999TB", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseByteSize(tc.in)
			if tc.bad != (err != nil) || got != tc.want {
				t.Errorf("parseByteSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
			}
		})
	}
	if s := byteSize(128 << 20); s.String() != "128MB" {
		t.Errorf("String() = %q, want 128MB", s.String())
	}
}
