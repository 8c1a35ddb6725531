package projector

import (
	"tracker/projections"
	"tracker/projections/store"
)

// Days calls got with dev's summary of each span (store.Store.Days): the
// cached one while neither the span's history nor the corrections that
// apply to it changed, else one made by q.Make from the span's points in
// use (hidden ones left out). version names Make's output: a summary made
// by another version is made again.
func (p *Projector) Days(dev projections.DeviceID, q projections.DaysQuery, got func(i int, summary []byte) error) error {
	f := p.filter(dev)
	stamp := f.Stamper()
	st, done := p.reading()
	defer done()
	if st == nil {
		return projections.ErrRebuilding
	}
	var used []projections.Point
	var callerErr error // Make's or got's: no sign of a broken store
	err := st.Days(dev, store.DaysQuery{
		Zone:  q.Zone,
		Spans: q.Spans,
		Stamp: func(sp projections.DaySpan) uint64 { return stamp(sp) ^ q.Version },
		Make: func(sp projections.DaySpan, pts []projections.Point) ([]byte, error) {
			if !f.Empty() {
				used = used[:0]
				for _, pt := range pts {
					if !f.Hides(pt) {
						used = append(used, pt)
					}
				}
				pts = used
			}
			v, err := q.Make(sp, pts)
			callerErr = err
			return v, err
		},
	}, func(i int, v []byte) error {
		callerErr = got(i, v)
		return callerErr
	})
	if callerErr == nil {
		p.readFailed(err)
	}
	return err
}
