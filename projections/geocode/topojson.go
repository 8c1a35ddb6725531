package geocode

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// A topoCountry is one feature of a TopoJSON geometry collection with its
// rings resolved to quantized vertices. All rings of a feature (outer
// rings, holes, islands, enclaves) are kept together: the even-odd rule
// over all of them says whether a point is inside the feature.
type topoCountry struct {
	ID    string // ISO 3166-1 numeric as world-atlas ships it, "" for some
	Name  string
	Rings [][]int32 // each ring x0,y0,x1,y1,…, closed (last vertex = first)
}

// A topology is the decoded countries of a quantized TopoJSON file and the
// transform from quantized units back to degrees.
type topology struct {
	Scale, Translate [2]float64
	Countries        []topoCountry
}

// maxTopoVertices bounds what a topology may expand to (an arc may be
// referenced many times): the embedded 1:10m file needs about 0.6 M.
const maxTopoVertices = 8 << 20

// decodeTopoJSON reads the geometry collection named object from a
// quantized TopoJSON topology (the TopoJSON specification, §2.1–2.2).
// Only Polygon and MultiPolygon geometries are kept; others are skipped.
func decodeTopoJSON(data []byte, object string) (*topology, error) {
	var f struct {
		Transform *struct {
			Scale     [2]float64 `json:"scale"`
			Translate [2]float64 `json:"translate"`
		} `json:"transform"`
		Objects map[string]struct {
			Type       string `json:"type"`
			Geometries []struct {
				Type       string          `json:"type"`
				ID         json.RawMessage `json:"id"`
				Properties struct {
					Name string `json:"name"`
				} `json:"properties"`
				Arcs json.RawMessage `json:"arcs"`
			} `json:"geometries"`
		} `json:"objects"`
		Arcs json.RawMessage `json:"arcs"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("geocode: topojson: %w", err)
	}
	if f.Transform == nil {
		return nil, errors.New("geocode: topojson: not quantized (no transform)")
	}
	for _, v := range append(f.Transform.Scale[:], f.Transform.Translate[:]...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("geocode: topojson: transform is not finite")
		}
	}
	if f.Transform.Scale[0] <= 0 || f.Transform.Scale[1] <= 0 {
		return nil, errors.New("geocode: topojson: transform scale must be positive")
	}
	obj, ok := f.Objects[object]
	if !ok {
		return nil, fmt.Errorf("geocode: topojson: no object %q", object)
	}
	arcs, err := parseArcs(f.Arcs)
	if err != nil {
		return nil, err
	}
	t := &topology{Scale: f.Transform.Scale, Translate: f.Transform.Translate}
	total := 0
	for gi, g := range obj.Geometries {
		var polys [][][]int
		switch g.Type {
		case "Polygon":
			var p [][]int
			if err := json.Unmarshal(g.Arcs, &p); err != nil {
				return nil, fmt.Errorf("geocode: topojson: geometry %d arcs: %w", gi, err)
			}
			polys = [][][]int{p}
		case "MultiPolygon":
			if err := json.Unmarshal(g.Arcs, &polys); err != nil {
				return nil, fmt.Errorf("geocode: topojson: geometry %d arcs: %w", gi, err)
			}
		default:
			continue
		}
		c := topoCountry{Name: g.Properties.Name}
		if len(g.ID) > 0 {
			var id string
			if err := json.Unmarshal(g.ID, &id); err != nil {
				// The specification allows a number too.
				var n json.Number
				if err := json.Unmarshal(g.ID, &n); err != nil {
					return nil, fmt.Errorf("geocode: topojson: geometry %d id: %w", gi, err)
				}
				id = n.String()
			}
			c.ID = id
		}
		for _, p := range polys {
			for _, ring := range p {
				r, err := arcs.ring(ring, maxTopoVertices-total)
				if err != nil {
					return nil, fmt.Errorf("geocode: topojson: geometry %d (%s): %w", gi, c.Name, err)
				}
				if len(r) < 8 { // fewer than 4 vertices (3 + closing) encloses nothing
					continue
				}
				total += len(r) / 2
				c.Rings = append(c.Rings, r)
			}
		}
		t.Countries = append(t.Countries, c)
	}
	return t, nil
}

// topoArcs holds every arc's absolute quantized vertices, flat.
type topoArcs struct {
	xy    []int32 // x,y pairs
	start []int32 // arc i is xy[2*start[i] : 2*start[i+1]]
}

// ring stitches a ring from arc indexes (~i is arc i reversed), dropping
// each following arc's first vertex (the previous arc's last), and closes
// it. It refuses rings longer than budget vertices.
func (a *topoArcs) ring(idx []int, budget int) ([]int32, error) {
	var out []int32
	n := len(a.start) - 1
	for k, i := range idx {
		rev := i < 0
		if rev {
			i = ^i
		}
		if i >= n {
			return nil, fmt.Errorf("arc %d of %d", i, n)
		}
		lo, hi := int(a.start[i]), int(a.start[i+1])
		if hi-lo == 0 {
			continue
		}
		if len(out)/2+(hi-lo) > budget {
			return nil, errors.New("too many vertices")
		}
		skip := 0
		if k > 0 {
			skip = 1
		}
		if rev {
			for v := hi - 1 - skip; v >= lo; v-- {
				out = append(out, a.xy[2*v], a.xy[2*v+1])
			}
		} else {
			for v := lo + skip; v < hi; v++ {
				out = append(out, a.xy[2*v], a.xy[2*v+1])
			}
		}
	}
	if m := len(out); m >= 2 && (out[0] != out[m-2] || out[1] != out[m-1]) {
		out = append(out, out[0], out[1])
	}
	return out, nil
}

// parseArcs reads the topology's arcs, [[[dx,dy],…],…] with integer
// delta-encoded positions (extra numbers in a position are ignored), by
// hand: encoding/json would allocate a slice per position of a 3.6 MB file.
func parseArcs(b []byte) (*topoArcs, error) {
	p := arcParser{b: b}
	a := &topoArcs{start: []int32{0}}
	if err := p.expect('['); err != nil {
		return nil, err
	}
	if p.peek() == ']' {
		p.i++
		return a, p.end()
	}
	for {
		if err := p.expect('['); err != nil {
			return nil, err
		}
		var x, y int64
		if p.peek() != ']' {
			for {
				if err := p.expect('['); err != nil {
					return nil, err
				}
				dx, err := p.int()
				if err != nil {
					return nil, err
				}
				if err := p.expect(','); err != nil {
					return nil, err
				}
				dy, err := p.int()
				if err != nil {
					return nil, err
				}
				for p.peek() == ',' { // ignore further numbers (z, m)
					p.i++
					if _, err := p.number(); err != nil {
						return nil, err
					}
				}
				if err := p.expect(']'); err != nil {
					return nil, err
				}
				x, y = x+dx, y+dy
				if x < math.MinInt32 || x > math.MaxInt32 || y < math.MinInt32 || y > math.MaxInt32 {
					return nil, fmt.Errorf("geocode: topojson: arc %d leaves the int32 range", len(a.start)-1)
				}
				if len(a.xy)/2 >= maxTopoVertices {
					return nil, errors.New("geocode: topojson: too many arc vertices")
				}
				a.xy = append(a.xy, int32(x), int32(y))
				if p.peek() != ',' {
					break
				}
				p.i++
			}
		}
		if err := p.expect(']'); err != nil {
			return nil, err
		}
		a.start = append(a.start, int32(len(a.xy)/2))
		if p.peek() != ',' {
			break
		}
		p.i++
	}
	if err := p.expect(']'); err != nil {
		return nil, err
	}
	return a, p.end()
}

type arcParser struct {
	b []byte
	i int
}

func (p *arcParser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *arcParser) peek() byte {
	p.skipSpace()
	if p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

func (p *arcParser) expect(c byte) error {
	if p.peek() != c {
		return fmt.Errorf("geocode: topojson: arcs: want %q at byte %d", c, p.i)
	}
	p.i++
	return nil
}

func (p *arcParser) end() error {
	if p.peek() != 0 {
		return fmt.Errorf("geocode: topojson: arcs: trailing data at byte %d", p.i)
	}
	return nil
}

// number returns the text of a JSON number.
func (p *arcParser) number() (string, error) {
	p.skipSpace()
	s := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	if s == p.i {
		return "", fmt.Errorf("geocode: topojson: arcs: want a number at byte %d", s)
	}
	return string(p.b[s:p.i]), nil
}

func (p *arcParser) int() (int64, error) {
	p.skipSpace()
	s, neg, v := p.i, false, int64(0)
	if p.i < len(p.b) && p.b[p.i] == '-' {
		neg = true
		p.i++
	}
	d := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if v > math.MaxInt32 { // far past any quantized delta
			return 0, fmt.Errorf("geocode: topojson: arcs: number too large at byte %d", s)
		}
		v = v*10 + int64(p.b[p.i]-'0')
		p.i++
	}
	if d == p.i {
		return 0, fmt.Errorf("geocode: topojson: arcs: want an integer at byte %d", s)
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, fmt.Errorf("geocode: topojson: arcs: %s…: positions must be quantized integers", strconv.Quote(string(p.b[s:p.i+1])))
	}
	if neg {
		v = -v
	}
	return v, nil
}
