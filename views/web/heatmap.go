package web

import (
	"cmp"
	"math"
	"net/http"
	"slices"
	"time"

	"tracker/projections"
	"tracker/views/web/internal/httpx"
)

// Heatmap grid: points are counted into cells of heatCell degrees of
// latitude (longitude cells as wide in metres at the cell's latitude is
// not worth it for a picture); when more than maxHeatCells are in use the
// cells double in size and are merged, so memory stays bounded whatever
// the range holds.
const (
	heatCell     = 0.0005 // degrees, ~55 m of latitude
	maxHeatCells = 8192
)

type heatKey struct{ lat, lon int32 }

// heatGrid counts points per cell.
type heatGrid struct {
	size   float64
	cells  map[heatKey]int
	points int
}

func newHeatGrid() *heatGrid { return &heatGrid{size: heatCell, cells: map[heatKey]int{}} }

func (g *heatGrid) key(lat, lon float64) heatKey {
	return heatKey{int32(math.Floor(lat / g.size)), int32(math.Floor(lon / g.size))}
}

func (g *heatGrid) add(lat, lon float64) {
	g.points++
	g.cells[g.key(lat, lon)]++
	for len(g.cells) > maxHeatCells {
		g.coarsen()
	}
}

// coarsen doubles the cell size, merging each 2×2 cells into one.
func (g *heatGrid) coarsen() {
	g.size *= 2
	merged := make(map[heatKey]int, len(g.cells)/2)
	for k, n := range g.cells {
		merged[heatKey{floorHalf(k.lat), floorHalf(k.lon)}] += n
	}
	g.cells = merged
}

func floorHalf(v int32) int32 {
	if v < 0 {
		return (v - 1) / 2
	}
	return v / 2
}

// HeatmapAnswer is the heatmap of a range: cells as [lat, lon, count]
// at their centres.
type HeatmapAnswer struct {
	Device projections.DeviceID `json:"device"`
	From   time.Time            `json:"from"`
	To     time.Time            `json:"to"`
	Points int                  `json:"points"`
	CellM  float64              `json:"cell_m"` // the cells' height in metres
	Max    int                  `json:"max"`    // the largest count
	Cells  [][3]float64         `json:"cells"`
}

// friendHeatmap answers the heatmap of a friend's points in use over a
// range (?from=&to=, at most a year as for every history read), counted
// into a grid of bounded size.
func (s *Server) friendHeatmap(w http.ResponseWriter, r *http.Request) {
	id, from, to, ok := s.friendRange(w, r)
	if !ok {
		return
	}
	g := newHeatGrid()
	err := httpx.EachPoint(r.Context(), s.proj(r), id, from.Unix(), to.Unix(), func(p projections.Point) error {
		g.add(p.Lat, p.Lon)
		return nil
	})
	if err != nil {
		if r.Context().Err() == nil {
			s.httpError(w, r, http.StatusInternalServerError, "could not read the history of "+string(id), err)
		}
		return
	}
	a := HeatmapAnswer{Device: id, From: from.UTC(), To: to.UTC(), Points: g.points,
		CellM: g.size * 111_195, Cells: make([][3]float64, 0, len(g.cells))}
	for k, n := range g.cells {
		a.Max = max(a.Max, n)
		a.Cells = append(a.Cells, [3]float64{
			round6((float64(k.lat) + 0.5) * g.size), round6((float64(k.lon) + 0.5) * g.size), float64(n)})
	}
	slices.SortFunc(a.Cells, func(x, y [3]float64) int { return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1])) })
	httpx.WriteJSON(w, http.StatusOK, a)
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
