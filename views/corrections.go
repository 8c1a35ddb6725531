package views

import (
	"strconv"
	"time"

	"tracker/projections"
)

// The history page's corrections: hidden points marked in the table, the
// hidden ranges and accuracy limits listed, and the form that changes
// them (for the owner of the device and admins).

// CorrectURL is where the page's correction form posts.
func (h History) CorrectURL() string { return h.Friend.HistoryURL() + "/corrections" }

// BackURL is this page (range and page number), where a correction
// returns to.
func (h History) BackURL() string { return h.PageURL(h.PageNo) }

// ShowCorrections reports whether the page has a corrections panel: for
// those who may correct, or when something is hidden.
func (h History) ShowCorrections() bool {
	c := h.Corrections
	return h.CanCorrect || h.HiddenCount > 0 || len(c.Ranges) > 0 || c.MaxAcc != nil || c.AllMax != nil
}

// HiddenRange is one hidden range as the page lists it.
type HiddenRange struct {
	From, To time.Time
	projections.HiddenRange
}

// HiddenRanges lists the friend's hidden ranges, by start.
func (h History) HiddenRanges() []HiddenRange {
	var out []HiddenRange
	for _, r := range h.Corrections.Ranges {
		out = append(out, HiddenRange{From: time.Unix(r.From, 0), To: time.Unix(r.To, 0), HiddenRange: r})
	}
	return out
}

// RestoreValue is the form value that shows the range again.
func (r HiddenRange) RestoreValue() string {
	return "unhide-range:" + strconv.FormatInt(r.HiddenRange.From, 10) + ":" + strconv.FormatInt(r.HiddenRange.To, 10)
}

// ThresholdText says which accuracy limit applies to the friend's fixes;
// "" when none.
func (h History) ThresholdText() string {
	c := h.Corrections
	switch {
	case c.MaxAcc != nil:
		return "Fixes less accurate than " + strconv.Itoa(c.MaxAcc.Max) + " m are not used (this device's limit" + by(c.MaxAcc.Correction) + ")."
	case c.AllMax != nil:
		return "Fixes less accurate than " + strconv.Itoa(c.AllMax.Max) + " m are not used (the limit for everyone" + by(c.AllMax.Correction) + ")."
	}
	return ""
}

// ThresholdValue fills the limit's input: this device's own limit.
func (h History) ThresholdValue() string {
	if c := h.Corrections.MaxAcc; c != nil {
		return strconv.Itoa(c.Max)
	}
	return ""
}

func by(c projections.Correction) string {
	s := ""
	if c.By != "" {
		s = ", set by " + c.By
	}
	if c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
}

// HiddenText says why the row's point is hidden.
func (p PointRow) HiddenText() string {
	if p.Hidden == nil {
		return ""
	}
	return p.Hidden.Text()
}

// RestoreValue is the form value of the row's Restore button: the point
// itself, or the range hiding it; "" for a point under an accuracy limit
// (the limit is changed instead).
func (p PointRow) RestoreValue() string {
	switch {
	case p.Hidden == nil:
		return ""
	case p.Hidden.Kind == "point":
		return "unhide:" + strconv.FormatUint(p.Seq, 10)
	case p.Hidden.Kind == "range":
		return "unhide-range:" + strconv.FormatInt(p.Hidden.From, 10) + ":" + strconv.FormatInt(p.Hidden.To, 10)
	}
	return ""
}

// HideValue is the form value of the row's Hide button.
func (p PointRow) HideValue() string { return "hide:" + strconv.FormatUint(p.Seq, 10) }

// SeqText is the point's event number.
func (p PointRow) SeqText() string { return strconv.FormatUint(p.Seq, 10) }

// LatText and LonText place the row's point (for the page script, which
// draws revealed hidden points on the map).
func (p PointRow) LatText() string { return strconv.FormatFloat(p.Lat, 'f', -1, 64) }

// LonText is the longitude.
func (p PointRow) LonText() string { return strconv.FormatFloat(p.Lon, 'f', -1, 64) }

// AllHidden reports whether every row of the day is hidden (its heading
// folds away with them).
func (d PointDay) AllHidden() bool {
	for _, r := range d.Rows {
		if r.Hidden == nil {
			return false
		}
	}
	return true
}
