package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"tracker/events/badgerlog"
)

// diskFlags guard the data volume against filling up (serve).
type diskFlags struct {
	MinFreeDisk byteSize // refuse new messages below this much free space
}

func (c *diskFlags) flags(fs *flag.FlagSet) {
	c.MinFreeDisk = badgerlog.DefaultMinFree
	fs.Var(&c.MinFreeDisk, "min-free-disk", "free `SIZE` to keep on the data volume (e.g. 8MB, 1GB; KB/MB/GB count 1024s): below it new messages are refused (no MQTT acknowledgement, HTTP 503) until space is freed, so the database never runs out of space mid-write")
}

// byteSize is a flag taking sizes such as 512KB, 8MB, 1GB or 4096.
type byteSize uint64

func (b *byteSize) String() string {
	if b == nil {
		return "0"
	}
	v := uint64(*b)
	for _, u := range []struct {
		name string
		size uint64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if v >= u.size && v%u.size == 0 {
			return strconv.FormatUint(v/u.size, 10) + u.name
		}
	}
	return strconv.FormatUint(v, 10) + "B"
}

func (b *byteSize) Set(s string) error {
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (uint64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	num := strings.TrimRight(t, "KMGTIB ")
	unit := strings.TrimSpace(t[len(num):])
	mult := map[string]uint64{"": 1, "B": 1,
		"K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
		"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
		"T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}[unit]
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if mult == 0 || err != nil || f < 0 || f*float64(mult) >= 1<<63 {
		return 0, fmt.Errorf("size %q: want a number with B, KB, MB, GB or TB, such as 8MB or 1GB", s)
	}
	return uint64(f * float64(mult)), nil
}
