package geocode

import (
	"math"
)

// countryIndex answers "which country contains this point" from polygon
// rings in quantized integer units.
//
// A rootG×rootG grid covers the data's extent; a cell crossed by more than
// leafEdges ring edges is split in four, down to maxDepth. Every cell has a
// reference point whose containing country was settled while building
// (walking each grid row from outside the map, then from a parent's
// reference point to each child's, counting edge crossings on the way). A
// lookup finds the leaf, starts from its reference point's answer and
// counts crossings of the short segment from that point to the query with
// the few edges of that leaf: no polygon is ever walked whole, so Russia
// costs what Luxembourg costs. A leaf no edge crosses answers at once.
type countryIndex struct {
	x0, y0, cw, ch float64 // extent origin and root cell size, quantized units
	px, py         []int32 // ring vertices; edge k is vertex k → k+1
	edgeOf         []uint16
	nodes          []qnode
	edges          []int32 // leaves' edge lists
}

// qnode is a cell: an inner node (n == inner: its four children are
// nodes[off … off+3], ordered SW, SE, NW, NE) or a leaf whose n edges are
// edges[off:off+n] and whose reference point lies in country in.
type qnode struct {
	off int32
	n   uint16
	in  uint16
}

const inner = math.MaxUint16
const (
	rootG     = 256
	leafEdges = 12
	maxDepth  = 8
	noCountry = math.MaxUint16
)

// ref is a cell's reference point: near its middle, at a fraction no
// vertex (integers) and no query of interest sits on, so that crossing
// counts from it never hit a vertex exactly.
func ref(x0, y0, w, h float64) (float64, float64) {
	return math.Floor(x0+w/2) + 0.3183098861837907, math.Floor(y0+h/2) + 0.6180339887498949
}

// newCountryIndex indexes rings: rings[c] are country c's rings; span is
// the width of the world (360°) in the rings' units, 0 if they do not wrap.
func newCountryIndex(rings [][][]int32, span int64) *countryIndex {
	ix := &countryIndex{}
	if span > 0 {
		rings = cutAtAntimeridian(rings, span)
	}
	minX, minY, maxX, maxY := int32(math.MaxInt32), int32(math.MaxInt32), int32(math.MinInt32), int32(math.MinInt32)
	n := 0
	for _, rs := range rings {
		for _, r := range rs {
			n += len(r) / 2
		}
	}
	ix.px, ix.py = make([]int32, 0, n), make([]int32, 0, n)
	ix.edgeOf = make([]uint16, 0, n)
	for c, rs := range rings {
		for _, r := range rs {
			for i := 0; i+1 < len(r); i += 2 {
				x, y := r[i], r[i+1]
				ix.px, ix.py = append(ix.px, x), append(ix.py, y)
				minX, maxX = min(minX, x), max(maxX, x)
				minY, maxY = min(minY, y), max(maxY, y)
				e := uint16(c)
				if i+3 >= len(r) {
					e = noCountry // a ring's last vertex starts no edge
				}
				ix.edgeOf = append(ix.edgeOf, e)
			}
		}
	}
	if len(ix.px) == 0 {
		minX, minY, maxX, maxY = 0, 0, 0, 0
	}
	ix.x0, ix.y0 = float64(minX), float64(minY)
	ix.cw = float64(int64(maxX)-int64(minX)+1) / rootG
	ix.ch = float64(int64(maxY)-int64(minY)+1) / rootG

	// Edges per root cell, by bounding box (a superset of the cells each
	// edge crosses: harmless, an edge that does not reach a segment does
	// not cross it).
	lists := make([][]int32, rootG*rootG)
	for k := range ix.edgeOf {
		if ix.edgeOf[k] == noCountry {
			continue
		}
		i0, i1 := ix.col(min(ix.px[k], ix.px[k+1])), ix.col(max(ix.px[k], ix.px[k+1]))
		j0, j1 := ix.row(min(ix.py[k], ix.py[k+1])), ix.row(max(ix.py[k], ix.py[k+1]))
		for j := j0; j <= j1; j++ {
			for i := i0; i <= i1; i++ {
				lists[j*rootG+i] = append(lists[j*rootG+i], int32(k))
			}
		}
	}

	ix.nodes = make([]qnode, rootG*rootG, rootG*rootG*3/2)
	in := newParity(len(rings))
	for j := range rootG {
		cy0 := ix.y0 + float64(j)*ix.ch
		_, ry := ref(ix.x0, cy0, ix.cw, ix.ch)
		in.reset()
		prev := ix.x0 - 1 // west of every vertex: inside nothing
		for i := range rootG {
			cx0 := ix.x0 + float64(i)*ix.cw
			rx, _ := ref(cx0, cy0, ix.cw, ix.ch)
			// The horizontal walk prev → rx crosses edges of the previous
			// cell west of the boundary and of this cell east of it; each
			// crossing point belongs to exactly one of the two ranges.
			if i > 0 {
				ix.crossRow(in, lists[j*rootG+i-1], ry, prev, cx0)
				prev = cx0
				lists[j*rootG+i-1] = nil // built: only this walk needed it still
			}
			ix.crossRow(in, lists[j*rootG+i], ry, prev, rx)
			prev = rx
			ix.build(j*rootG+i, cx0, cy0, ix.cw, ix.ch, lists[j*rootG+i], in.set(), 0)
		}
	}
	return ix
}

// cutAtAntimeridian rewrites rings that cross the antimeridian. Natural
// Earth cuts shapes there, but a ring may still step from +180° to -180°
// (Chukotka, Fiji): on the plane that step is an edge across the whole
// map. Each ring is cut at such steps into chains, each chain is extended
// to the map's edge where the step crosses the antimeridian, and closed by
// a straight segment from its end to its start: a chain that left and came
// back on the same side is so closed along that edge, which is what the
// even-odd rule needs there (a chain whose ends are on opposite sides,
// like Antarctica's, is closed along the bottom, as the step did).
func cutAtAntimeridian(rings [][][]int32, span int64) [][][]int32 {
	jump := func(ax, bx int32) bool { d := int64(bx) - int64(ax); return 2*d > span || -2*d > span }
	// cross returns where the step a → b meets the antimeridian, on a's
	// side and on b's.
	cross := func(ax, ay, bx, by int32) (int32, int32, int32) {
		ux, edgeA, edgeB := float64(bx)+float64(span), int32(span), int32(0) // a east, b west
		if ax < bx {
			ux, edgeA, edgeB = float64(bx)-float64(span), 0, int32(span)
		}
		y := float64(ay)
		if ux != float64(ax) {
			y += (float64(edgeA) - float64(ax)) * (float64(by) - float64(ay)) / (ux - float64(ax))
		}
		return edgeA, int32(math.Round(y)), edgeB
	}
	out := make([][][]int32, len(rings))
	for c, rs := range rings {
		for _, r := range rs {
			n := len(r)/2 - 1 // vertices without the closing repeat
			first := -1
			for i := range n {
				if j := (i + 1) % n; jump(r[2*i], r[2*j]) {
					first = j
					break
				}
			}
			if first < 0 {
				out[c] = append(out[c], r)
				continue
			}
			var chain []int32
			for s := range n {
				i := (first + s) % n
				j := (i + 1) % n
				if len(chain) == 0 { // starts after a step: from the edge it crossed
					h := (i + n - 1) % n
					_, y, eb := cross(r[2*h], r[2*h+1], r[2*i], r[2*i+1])
					chain = append(chain, eb, y)
				}
				chain = append(chain, r[2*i], r[2*i+1])
				if jump(r[2*i], r[2*j]) {
					ea, y, _ := cross(r[2*i], r[2*i+1], r[2*j], r[2*j+1])
					chain = append(chain, ea, y, chain[0], chain[1])
					if len(chain) >= 8 {
						out[c] = append(out[c], chain)
					}
					chain = nil
				}
			}
		}
	}
	return out
}

func (ix *countryIndex) col(x int32) int {
	return min(rootG-1, max(0, int((float64(x)-ix.x0)/ix.cw)))
}

func (ix *countryIndex) row(y int32) int {
	return min(rootG-1, max(0, int((float64(y)-ix.y0)/ix.ch)))
}

// crossRow toggles in for each edge crossing the horizontal line y at an x
// in [from, to).
func (ix *countryIndex) crossRow(in *parity, edges []int32, y, from, to float64) {
	for _, k := range edges {
		ay, by := float64(ix.py[k]), float64(ix.py[k+1])
		if (ay > y) == (by > y) {
			continue
		}
		ax, bx := float64(ix.px[k]), float64(ix.px[k+1])
		x := ax + (y-ay)*(bx-ax)/(by-ay)
		if x >= from && x < to {
			in.toggle(ix.edgeOf[k])
		}
	}
}

// build fills node n (bounds x0,y0,w,h) from the edges reaching it and the
// countries containing its reference point, splitting it while it is busy.
func (ix *countryIndex) build(n int, x0, y0, w, h float64, edges []int32, inside []uint16, depth int) {
	if len(edges) <= leafEdges || (depth >= maxDepth && len(edges) < inner) {
		// Countries do not overlap: a reference point is in one at most
		// (were it in two, the lower index would answer).
		in := uint16(noCountry)
		if len(inside) > 0 {
			in = inside[0]
		}
		ix.nodes[n] = qnode{off: int32(len(ix.edges)), n: uint16(len(edges)), in: in}
		ix.edges = append(ix.edges, edges...)
		return
	}
	c := len(ix.nodes)
	ix.nodes[n] = qnode{off: int32(c), n: inner}
	ix.nodes = append(ix.nodes, qnode{}, qnode{}, qnode{}, qnode{})
	rx, ry := ref(x0, y0, w, h)
	hw, hh := w/2, h/2
	in := newParity(0)
	for q := range 4 {
		cx0, cy0 := x0+float64(q&1)*hw, y0+float64(q>>1)*hh
		var sub []int32
		for _, k := range edges {
			ax, bx := float64(ix.px[k]), float64(ix.px[k+1])
			ay, by := float64(ix.py[k]), float64(ix.py[k+1])
			if max(ax, bx) < cx0 || min(ax, bx) > cx0+hw || max(ay, by) < cy0 || min(ay, by) > cy0+hh {
				continue
			}
			sub = append(sub, k)
		}
		qx, qy := ref(cx0, cy0, hw, hh)
		in.from(inside)
		ix.crossSegment(in, edges, rx, ry, qx, qy)
		ix.build(c+q, cx0, cy0, hw, hh, sub, in.set(), depth+1)
	}
}

// crossSegment toggles in for each edge crossing the segment a → b.
func (ix *countryIndex) crossSegment(in *parity, edges []int32, ax, ay, bx, by float64) {
	for _, k := range edges {
		if ix.crosses(k, ax, ay, bx, by) {
			in.toggle(ix.edgeOf[k])
		}
	}
}

// crosses reports whether edge k crosses segment a → b. Zero orientations
// count as one side, so a segment through a vertex crosses exactly one of
// the two edges meeting there.
func (ix *countryIndex) crosses(k int32, ax, ay, bx, by float64) bool {
	px, py := float64(ix.px[k]), float64(ix.py[k])
	qx, qy := float64(ix.px[k+1]), float64(ix.py[k+1])
	if (orient(px, py, qx, qy, ax, ay) > 0) == (orient(px, py, qx, qy, bx, by) > 0) {
		return false
	}
	return (orient(ax, ay, bx, by, px, py) > 0) != (orient(ax, ay, bx, by, qx, qy) > 0)
}

func orient(ax, ay, bx, by, cx, cy float64) float64 {
	return (bx-ax)*(cy-ay) - (by-ay)*(cx-ax)
}

// lookup returns the country containing (x, y) in quantized units, or
// noCountry.
func (ix *countryIndex) lookup(x, y float64) uint16 {
	i := math.Floor((x - ix.x0) / ix.cw)
	j := math.Floor((y - ix.y0) / ix.ch)
	if !(i >= 0 && i < rootG && j >= 0 && j < rootG) { // also NaN
		return noCountry
	}
	n := int(j)*rootG + int(i)
	x0, y0, w, h := ix.x0+i*ix.cw, ix.y0+j*ix.ch, ix.cw, ix.ch
	for ix.nodes[n].n == inner {
		w, h = w/2, h/2
		q := 0
		if x >= x0+w {
			q, x0 = 1, x0+w
		}
		if y >= y0+h {
			q, y0 = q+2, y0+h
		}
		n = int(ix.nodes[n].off) + q
	}
	nd := ix.nodes[n]
	if nd.n == 0 {
		return nd.in
	}
	var buf [8]uint16
	in := parity{ids: buf[:0]}
	if nd.in != noCountry {
		in.ids = append(in.ids, nd.in)
	}
	rx, ry := ref(x0, y0, w, h)
	for _, k := range ix.edges[nd.off : nd.off+int32(nd.n)] {
		if ix.crosses(k, rx, ry, x, y) {
			in.toggle(ix.edgeOf[k])
		}
	}
	if len(in.ids) == 0 {
		return noCountry
	}
	return in.ids[0]
}

// bytes is the index's size in memory.
func (ix *countryIndex) bytes() int {
	return 4*(cap(ix.px)+cap(ix.py)+cap(ix.edges)) + 2*cap(ix.edgeOf) + 8*cap(ix.nodes)
}

// parity is the set of countries an odd number of crossings away: the
// countries containing the point reached. Countries do not overlap, so it
// holds one or none but for a moment.
type parity struct{ ids []uint16 }

func newParity(int) *parity { return &parity{} }

func (p *parity) reset() { p.ids = p.ids[:0] }

func (p *parity) from(ids []uint16) { p.ids = append(p.ids[:0], ids...) }

func (p *parity) toggle(c uint16) {
	for i, id := range p.ids {
		if id == c {
			p.ids = append(p.ids[:i], p.ids[i+1:]...)
			return
		}
	}
	p.ids = append(p.ids, c)
}

// set returns a copy of the current set, sorted for a stable answer.
func (p *parity) set() []uint16 {
	out := append([]uint16(nil), p.ids...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
