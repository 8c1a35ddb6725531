package web

import (
	"math/rand/v2"
	"testing"
)

// TestHeatGridBounded: however many points and however spread, the grid
// holds at most maxHeatCells cells, and every point is counted once.
func TestHeatGridBounded(t *testing.T) {
	for _, c := range []struct {
		name   string
		points int
		spread float64 // degrees around Brussels
		fine   bool    // stays at the finest cells
	}{
		{"a day in town", 1_440, 0.05, true},
		{"a year over a country", 200_000, 2, false},
		{"points all over the globe", 200_000, 180, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, 2))
			g := newHeatGrid()
			for range c.points {
				g.add(50.85+(rnd.Float64()-0.5)*c.spread, 4.35+(rnd.Float64()-0.5)*c.spread)
			}
			sum := 0
			for _, n := range g.cells {
				sum += n
			}
			if len(g.cells) > maxHeatCells || sum != c.points || g.points != c.points {
				t.Errorf("%d cells (max %d), counting %d of %d points", len(g.cells), maxHeatCells, sum, c.points)
			}
			if (g.size == heatCell) != c.fine {
				t.Errorf("cell size %g°, fine: %v", g.size, c.fine)
			}
		})
	}
}
