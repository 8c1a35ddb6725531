package recorder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"tracker/events"
)

// Kind is what a file of the storage directory holds.
type Kind int

const (
	KindRec       Kind = iota // rec/<user>/<device>/YYYY-MM.rec: one message per line
	KindWaypoint              // waypoints/<user>/<device>/<ISO time>.json: one region the phone shared
	KindWaypoints             // waypoints/<user>/<device>/<user>-<device>.otrw: the phone's export of all regions
	KindCard                  // cards/<user>/<device>/<user>-<device>.json or cards/<user>/<user>.json
)

func (k Kind) String() string {
	switch k {
	case KindRec:
		return "rec"
	case KindWaypoint:
		return "waypoint"
	case KindWaypoints:
		return "waypoints"
	case KindCard:
		return "card"
	}
	return "unknown"
}

// File is one file the import reads.
type File struct {
	Path    string // relative to the storage directory, with slashes
	Kind    Kind
	User    string // from the directory names (the Recorder lower-cases them)
	Device  string
	Size    int64
	ModTime time.Time
}

// Dir is a Recorder storage directory, listed. The Recorder's other
// directories are not read: last/ (the newest location, which is in rec/
// too), photos/ (the faces, which are in the cards), config/ (device
// configurations, with passwords), ghash/, msg/ and monitor.
type Dir struct {
	Root  string
	real  string // Root with its links resolved: what "inside" means
	Files []File // in reading order: per device its months, waypoints, then card
	Size  int64  // bytes of Files; Record.Done counts towards it
	// Problems found while listing (a card for a user without devices).
	Problems []Problem
}

// Record is one event read from the directory.
type Record struct {
	Event events.Event
	File  string // relative path
	Line  int    // 1-based line of a .rec file; 0 for a whole-file record
	Done  int64  // bytes of Dir.Size read up to and including this record
}

// Problem is a line or file that was skipped, and why.
type Problem struct {
	File   string // relative path
	Line   int    // 0 when it concerns the whole file
	Reason string // one of the Reason constants
	Detail string
}

func (p Problem) String() string {
	where := p.File
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Detail == "" {
		return where + ": " + p.Reason
	}
	return where + ": " + p.Reason + ": " + p.Detail
}

// Stats counts what Read did besides the records it passed on.
type Stats struct {
	Files int // files read
	Lines int // non-blank .rec lines, good and bad
	// WaypointFilesInRec counts waypoints/<user>/<device>/<time>.json files
	// skipped because the same region definition is a line of the .rec
	// files already (the Recorder writes both).
	WaypointFilesInRec int
}

// ErrNotRecorder is returned by Open for a directory without rec/, cards/
// or waypoints/.
var ErrNotRecorder = errors.New("not an OwnTracks Recorder storage directory (no rec/, cards/ or waypoints/ in it)")

// Open lists the files of the storage directory root.
func Open(root string) (*Dir, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: %w", root, ErrNotRecorder)
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	d := &Dir{Root: root, real: real}
	found := false
	// stat resolves rel: a link is followed only when it ends inside the
	// directory (a link out of it could read any file the importing user
	// can, such as the server's own sessions); one leading out is a problem.
	stat := func(rel string) (fs.FileInfo, bool) {
		info, err := d.stat(rel)
		if errors.Is(err, errOutside) {
			d.Problems = append(d.Problems, Problem{File: rel, Reason: ReasonOutside, Detail: err.Error()})
		}
		return info, err == nil
	}
	isDir := func(rel string) bool {
		info, ok := stat(rel)
		return ok && info.IsDir()
	}
	type dev struct{ user, device string }
	per := map[dev][]File{}
	userCards := map[string][]File{}
	add := func(rel string, kind Kind, user, device string) {
		info, ok := stat(rel)
		if !ok || !info.Mode().IsRegular() {
			return
		}
		f := File{Path: rel, Kind: kind, User: user, Device: device, Size: info.Size(), ModTime: info.ModTime()}
		if device == "" {
			userCards[user] = append(userCards[user], f)
			return
		}
		k := dev{user, device}
		per[k] = append(per[k], f)
	}
	for _, top := range []string{"rec", "waypoints", "cards"} {
		if _, err := os.Lstat(filepath.Join(root, top)); err == nil && !isDir(top) {
			continue
		}
		users, err := readDir(root, top)
		if err != nil {
			return nil, err
		}
		if users != nil {
			found = true
		}
		for _, u := range users {
			if !isDir(path.Join(top, u.Name())) {
				continue
			}
			user := u.Name()
			entries, err := readDir(root, top, user)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if !isDir(path.Join(top, user, e.Name())) {
					if top == "cards" && strings.HasSuffix(e.Name(), ".json") {
						add(path.Join(top, user, e.Name()), KindCard, user, "") // old layout: one card per user
					}
					continue
				}
				device := e.Name()
				files, err := readDir(root, top, user, device)
				if err != nil {
					return nil, err
				}
				for _, f := range files {
					rel, name := path.Join(top, user, device, f.Name()), f.Name()
					switch {
					case f.IsDir():
					case top == "rec" && strings.HasSuffix(name, ".rec"):
						add(rel, KindRec, user, device)
					case top == "waypoints" && strings.HasSuffix(name, ".otrw"):
						add(rel, KindWaypoints, user, device)
					case top == "waypoints" && strings.HasSuffix(name, ".json"):
						add(rel, KindWaypoint, user, device)
					case top == "cards" && strings.HasSuffix(name, ".json"):
						add(rel, KindCard, user, device)
					}
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: %w", root, ErrNotRecorder)
	}
	// A user's card (old layout) stands for each of the user's devices
	// that has no card of its own, as the Recorder reads them.
	for user, cards := range userCards {
		var devs []dev
		for k := range per {
			if k.user == user && !slices.ContainsFunc(per[k], func(f File) bool { return f.Kind == KindCard }) {
				devs = append(devs, k)
			}
		}
		if len(devs) == 0 {
			for _, c := range cards {
				d.Problems = append(d.Problems, Problem{File: c.Path, Reason: ReasonNoDevice, Detail: "user " + user + " has no device in rec/, cards/ or waypoints/"})
			}
			continue
		}
		c := cards[len(cards)-1]
		for _, f := range cards {
			if path.Base(f.Path) == user+".json" { // the name the Recorder reads
				c = f
			}
		}
		for _, k := range devs {
			c.Device = k.device
			per[k] = append(per[k], c)
		}
	}
	keys := make([]dev, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b dev) int {
		if c := strings.Compare(a.user, b.user); c != 0 {
			return c
		}
		return strings.Compare(a.device, b.device)
	})
	for _, k := range keys {
		files := per[k]
		// Months in order, then the single regions, the export, the
		// card (the newest last, as it is the one that counts).
		slices.SortStableFunc(files, func(a, b File) int {
			if a.Kind != b.Kind {
				return int(a.Kind) - int(b.Kind)
			}
			if a.Kind == KindCard {
				if c := a.ModTime.Compare(b.ModTime); c != 0 {
					return c
				}
			}
			return strings.Compare(a.Path, b.Path)
		})
		for _, f := range files {
			d.Files = append(d.Files, f)
			d.Size += f.Size
		}
	}
	return d, nil
}

// errOutside is returned by stat for a link that leads out of the directory.
var errOutside = errors.New("leads outside the directory")

// stat returns what rel names, following links only as long as they end
// inside the directory.
func (d *Dir) stat(rel string) (fs.FileInfo, error) {
	full := filepath.Join(d.Root, filepath.FromSlash(rel))
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.Rel(d.real, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("a link to %s, which %w", real, errOutside)
	}
	return os.Stat(real)
}

// open opens one of d.Files, checking again that it is a regular file
// inside the directory (it may have been replaced since Open listed it).
func (d *Dir) open(f File) (*os.File, error) {
	info, err := d.stat(f.Path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	return os.Open(filepath.Join(d.Root, filepath.FromSlash(f.Path)))
}

// readDir lists root/elem..., sorted by name; nil without error when it
// does not exist.
func readDir(root string, elem ...string) ([]fs.DirEntry, error) {
	es, err := os.ReadDir(filepath.Join(append([]string{root}, elem...)...))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return es, err
}

// Read calls fn for each record of d's files, in the order of d.Files and,
// within a .rec file, of its lines. Lines and files that cannot be used
// are passed to problem and skipped (so are d.Problems, first). Read
// stops at the first error of fn or when ctx ends. A .rec file is read a
// line at a time; lines are bounded by MaxLine.
func (d *Dir) Read(ctx context.Context, fn func(Record) error, problem func(Problem)) (Stats, error) {
	var st Stats
	for _, p := range d.Problems {
		problem(p)
	}
	// (device, second) of each waypoint line: the Recorder wrote the same
	// definition to waypoints/<user>/<device>/<ISO time>.json.
	type devTime struct {
		user, device string
		unix         int64
	}
	recWaypoints := map[devTime]bool{}
	var done int64
	for _, f := range d.Files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.Files++
		var err error
		switch f.Kind {
		case KindRec:
			err = d.readRec(ctx, f, done, &st, func(r Record) error {
				if strings.HasSuffix(r.Event.Topic, "/waypoint") {
					recWaypoints[devTime{f.User, f.Device, r.Event.Received.Unix()}] = true
				}
				return fn(r)
			}, problem)
		default:
			var r Record
			var ok bool
			if r, ok = d.readWhole(f, problem); !ok {
				break
			}
			if f.Kind == KindWaypoint && recWaypoints[devTime{f.User, f.Device, r.Event.Received.Unix()}] {
				st.WaypointFilesInRec++
				break
			}
			r.Done = done + f.Size
			err = fn(r)
		}
		if err != nil {
			return st, err
		}
		done += f.Size
	}
	return st, nil
}

// readRec streams the lines of one .rec file.
func (d *Dir) readRec(ctx context.Context, f File, before int64, st *Stats, fn func(Record) error, problem func(Problem)) error {
	file, err := d.open(f)
	if err != nil {
		problem(Problem{File: f.Path, Reason: ReasonFile, Detail: err.Error()})
		return nil
	}
	defer file.Close()
	br := bufio.NewReaderSize(file, 64<<10)
	var (
		long    []byte // a line longer than the buffer, gathered
		tooLong bool
		off     int64
		lineNo  int
	)
	for {
		chunk, rerr := br.ReadSlice('\n')
		off += int64(len(chunk))
		if errors.Is(rerr, bufio.ErrBufferFull) {
			if !tooLong && len(long)+len(chunk) <= MaxLine {
				long = append(long, chunk...)
			} else {
				tooLong, long = true, long[:0]
			}
			continue
		}
		if rerr != nil && rerr != io.EOF {
			problem(Problem{File: f.Path, Line: lineNo + 1, Reason: ReasonFile, Detail: rerr.Error()})
			return nil
		}
		if len(chunk) == 0 && len(long) == 0 && !tooLong {
			return nil // end of file after a complete line
		}
		lineNo++
		line := chunk
		if len(long) > 0 || tooLong {
			if !tooLong && len(long)+len(chunk) > MaxLine {
				tooLong = true
			}
			line = append(long, chunk...)
		}
		complete := rerr == nil
		line = bytes.TrimSuffix(line, []byte{'\n'})
		switch {
		case tooLong:
			st.Lines++
			problem(Problem{File: f.Path, Line: lineNo, Reason: ReasonTooLong, Detail: fmt.Sprintf("more than %d bytes", MaxLine)})
		case len(bytes.TrimSpace(line)) == 0:
		default:
			st.Lines++
			e, err := ParseLine(line, f.User, f.Device)
			if err != nil {
				var le *LineError
				errors.As(err, &le)
				p := Problem{File: f.Path, Line: lineNo, Reason: le.Reason, Detail: le.Detail}
				if !complete && le.Reason != ReasonTime {
					p.Reason, p.Detail = ReasonTruncated, "the file ends inside it"
				}
				problem(p)
				break
			}
			if err := fn(Record{Event: e, File: f.Path, Line: lineNo, Done: before + off}); err != nil {
				return err
			}
		}
		if cap(long) > 1<<20 {
			long = nil // do not keep a huge buffer for the rest of the file
		}
		long, tooLong = long[:0], false
		if rerr == io.EOF {
			return nil
		}
		if lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// readWhole reads a card or waypoints file as one record.
func (d *Dir) readWhole(f File, problem func(Problem)) (Record, bool) {
	bad := func(detail string) (Record, bool) {
		problem(Problem{File: f.Path, Reason: ReasonFile, Detail: detail})
		return Record{}, false
	}
	if f.Size > MaxLine {
		return bad(fmt.Sprintf("%d bytes, more than %d", f.Size, MaxLine))
	}
	file, err := d.open(f)
	if err != nil {
		return bad(err.Error())
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, MaxLine+1))
	if err != nil {
		return bad(err.Error())
	}
	// The Recorder ends what it writes with a newline; the payload is the rest.
	b = bytes.TrimRight(b, "\r\n")
	if len(bytes.TrimSpace(b)) == 0 {
		return bad("empty")
	}
	if !json.Valid(b) {
		return bad("not JSON")
	}
	// The Recorder did not keep when these arrived; the file's time is
	// the best guess (and stable, so a second import finds the same event).
	received := f.ModTime.Truncate(time.Second).UTC()
	base := TopicRoot + "/" + f.User + "/" + f.Device
	var topic string
	switch f.Kind {
	case KindCard:
		topic = base + "/info"
	case KindWaypoints:
		topic = base + "/waypoints"
	case KindWaypoint:
		topic = base + "/waypoint"
		// Named after the region's time: 2024-06-10T06:13:20Z.json.
		if t, err := parseTime([]byte(strings.TrimSuffix(path.Base(f.Path), ".json"))); err == nil {
			received = t
		}
	}
	return Record{
		Event: events.Event{Received: received, Topic: topic, Payload: b, Source: events.SourceRecorder},
		File:  f.Path,
	}, true
}
