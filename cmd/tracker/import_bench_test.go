package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tracker/events/recorder"
)

// writeBigRecorderDir writes a Recorder storage directory of n location
// lines: 4 users with 2 devices each, a line every 10 minutes from
// 2020-01-01, so for a million lines each device covers about 29 months
// (one .rec file per month). It returns the total size in bytes.
func writeBigRecorderDir(tb testing.TB, root string, n int) int64 {
	tb.Helper()
	const users, devices = 4, 2
	perDevice := n / (users * devices)
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var total int64
	line := make([]byte, 0, 512)
	payload := make([]byte, 0, 256)
	for u := range users {
		for d := range devices {
			user, device := fmt.Sprintf("user%d", u), fmt.Sprintf("phone%d", d)
			count := perDevice
			if u == users-1 && d == devices-1 {
				count = n - perDevice*(users*devices-1)
			}
			var (
				f     *os.File
				w     *bufio.Writer
				month string
			)
			closeFile := func() {
				if f == nil {
					return
				}
				if err := w.Flush(); err != nil {
					tb.Fatal(err)
				}
				fi, err := f.Stat()
				if err != nil {
					tb.Fatal(err)
				}
				total += fi.Size()
				if err := f.Close(); err != nil {
					tb.Fatal(err)
				}
			}
			for i := range count {
				at := start.Add(time.Duration(i) * 10 * time.Minute)
				if m := at.Format("2006-01"); m != month {
					closeFile()
					month = m
					p := filepath.Join(root, "rec", user, device, m+".rec")
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						tb.Fatal(err)
					}
					var err error
					if f, err = os.Create(p); err != nil {
						tb.Fatal(err)
					}
					w = bufio.NewWriterSize(f, 1<<20)
				}
				payload = append(payload[:0], `{"_type":"location","tid":"`...)
				payload = append(payload, device[len(device)-2:]...)
				payload = append(payload, `","lat":`...)
				payload = strconv.AppendFloat(payload, 50.8+float64(u)*0.1+float64(i%1000)*0.0001, 'f', 6, 64)
				payload = append(payload, `,"lon":`...)
				payload = strconv.AppendFloat(payload, 4.3+float64(d)*0.1+float64(i%777)*0.0001, 'f', 6, 64)
				payload = append(payload, `,"tst":`...)
				payload = strconv.AppendInt(payload, at.Unix(), 10)
				payload = append(payload, `,"acc":12,"alt":41,"batt":`...)
				payload = strconv.AppendInt(payload, int64(100-i%100), 10)
				payload = append(payload, `,"conn":"w","vel":0}`...)
				line = recorder.AppendLine(line[:0], at, "*", payload)
				if _, err := w.Write(line); err != nil {
					tb.Fatal(err)
				}
			}
			closeFile()
		}
	}
	return total
}

// BenchmarkRecorderImport imports a generated 1,000,000-line Recorder
// directory into a fresh data directory (the log directly, as `tracker
// import recorder DIR --data DIR` does with no server running) and
// reports records/s.
func BenchmarkRecorderImport(b *testing.B) {
	const lines = 1_000_000
	src := filepath.Join(b.TempDir(), "recorder")
	size := writeBigRecorderDir(b, src, lines)
	b.SetBytes(size)
	b.ResetTimer()
	var took, again time.Duration
	importOnce := func(data, want string) time.Duration {
		var out, errOut bytes.Buffer
		start := time.Now()
		if err := run(b.Context(), []string{"import", "recorder", src, "--data", data}, &out, &errOut); err != nil {
			b.Fatalf("import: %v\n%s", err, errOut.String())
		}
		d := time.Since(start)
		if !strings.Contains(out.String(), want) {
			b.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
		return d
	}
	for i := 0; i < b.N; i++ {
		data := filepath.Join(b.TempDir(), fmt.Sprintf("data%d", i))
		took += importOnce(data, fmt.Sprintf("stored %d new events, 0 already present", lines))
		b.StopTimer()
		// A second run finds everything (each record costs a Badger read).
		again += importOnce(data, fmt.Sprintf("stored 0 new events, %d already present", lines))
		b.StartTimer()
	}
	b.ReportMetric(float64(lines)*float64(b.N)/took.Seconds(), "records/s")
	b.ReportMetric(float64(lines)*float64(b.N)/again.Seconds(), "again-records/s")
}
