package projector

import (
	"slices"

	"tracker/projections"
)

// recentKeep is how many enter/leave events the projector keeps in memory
// for dashboards' feeds.
const recentKeep = 200

// recentEvents keeps the newest area events by tst. Guarded by p.mu.
type recentEvents struct {
	list []projections.AreaEvent // ascending tst
}

func (r *recentEvents) add(evs []projections.AreaEvent) {
	for _, e := range evs {
		if e.Late {
			continue // history only: not news
		}
		i, _ := slices.BinarySearchFunc(r.list, e, func(a, b projections.AreaEvent) int {
			if a.Tst != b.Tst {
				if a.Tst < b.Tst {
					return -1
				}
				return 1
			}
			if a.Seq < b.Seq {
				return -1
			}
			if a.Seq > b.Seq {
				return 1
			}
			return 0
		})
		if r.has(i, e) {
			continue // made again by a repositioning: the store keeps it once too
		}
		r.list = slices.Insert(r.list, i, e)
	}
	if len(r.list) > recentKeep {
		r.list = slices.Delete(r.list, 0, len(r.list)-recentKeep)
	}
}

// has reports whether e is in the list, from i on (where it would go).
func (r *recentEvents) has(i int, e projections.AreaEvent) bool {
	for ; i < len(r.list) && r.list[i].Tst == e.Tst && r.list[i].Seq == e.Seq; i++ {
		if r.list[i] == e {
			return true
		}
	}
	return false
}

// loadRecent fills the feed from the store (at open and after a rebuild).
func (p *Projector) loadRecent() error {
	var r recentEvents
	err := p.store.AllAreaEvents(func(e projections.AreaEvent) error {
		r.add([]projections.AreaEvent{e})
		return nil
	})
	p.recent = r
	p.past.reset()
	return err
}
