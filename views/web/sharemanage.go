package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// Making, listing and revoking share links: /share (page) and
// /api/v1/shares (what `tracker share` calls through a running server).
// A viewer makes links for their own devices and sees and revokes their
// own links; an admin (and open mode) for any friend, and all links.

// ShareRequest is what a link is made from.
type ShareRequest struct {
	Friend string `json:"friend"`          // user/device
	For    string `json:"for,omitempty"`   // how long: 1h, 90m, 2d
	Until  string `json:"until,omitempty"` // or until when: RFC 3339, or 2006-01-02T15:04 in the viewer's zone
	Place  string `json:"place,omitempty"` // and until the friend arrives at this area (by name)
}

// ShareInfo is a link as the API and `tracker share list` show it:
// never its token or hash.
type ShareInfo struct {
	ID        string    `json:"id"`
	Device    string    `json:"device"`
	Owner     string    `json:"owner,omitempty"`
	By        string    `json:"by,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Place     string    `json:"place,omitempty"`
	Ended     time.Time `json:"ended,omitzero"`
	EndReason string    `json:"end_reason,omitempty"`
	Status    string    `json:"status"`
	Live      bool      `json:"live"`
	Views     int64     `json:"views"`
	LastView  time.Time `json:"last_view,omitzero"`
	Seq       uint64    `json:"seq"`
}

// ShareMade is the answer to a link just made: the only time its URL and
// token are told.
type ShareMade struct {
	Link  ShareInfo `json:"link"`
	URL   string    `json:"url"`
	Token string    `json:"token"`
}

// shareAreaName is the name of the area with id, for its maker's lists.
func shareAreaName(areas []projections.AreaView, id string) string {
	for _, a := range areas {
		if a.ID == id || slices.ContainsFunc(a.Formerly, func(f projections.FormerID) bool { return f.ID == id }) {
			return a.Name
		}
	}
	if id != "" {
		return "(a removed place)"
	}
	return ""
}

// ShareInfoOf is link l as the API shows it at now, with its views c.
func ShareInfoOf(l projections.ShareLink, users Users, areas []projections.AreaView, c ShareViewCount, now time.Time) ShareInfo {
	status, live := ShareStatus(l, users, now)
	return ShareInfo{ID: l.ID, Device: string(l.Device), Owner: l.Owner, By: l.By, Created: l.Created, Expires: l.Expires,
		Place: shareAreaName(areas, l.UntilArea), Ended: l.Ended, EndReason: l.EndReason, Status: status, Live: live,
		Views: c.Views, LastView: c.Last, Seq: l.Seq}
}

func (s *Server) shareInfo(l projections.ShareLink, areas []projections.AreaView, now time.Time) ShareInfo {
	return ShareInfoOf(l, s.Auth.Users, areas, s.ShareViews.Get(l.ID), now)
}

// sharesFor lists the links v may see: their own, or all for an admin.
func (s *Server) sharesFor(r *http.Request) []ShareInfo {
	v := ViewerFrom(r.Context())
	out := []ShareInfo{}
	if s.Shares == nil {
		return out
	}
	areas, now := s.proj(r).Areas(), s.now()
	for _, l := range s.Shares.Shares() {
		if v.Open || v.Admin || (v.Name != "" && l.Owner == v.Name) {
			out = append(out, s.shareInfo(l, areas, now))
		}
	}
	return out
}

// shareURL is the link's address: --public-url, else the name phones
// reach us at (--public-host), else the name the browser used.
func (s *Server) shareURL(r *http.Request, token string) string {
	if s.PublicURL != "" {
		return strings.TrimSuffix(s.PublicURL, "/") + "/s/" + token
	}
	host := s.Phones.PublicHost
	if host == "" {
		host = r.Host
	}
	scheme := "http"
	if s.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + host + "/s/" + token
}

// makeShare checks req against the viewer's rights and records the link.
func (s *Server) makeShare(r *http.Request, req ShareRequest) (ShareMade, error) {
	v := ViewerFrom(r.Context())
	if s.Shares == nil {
		return ShareMade{}, requestError{http.StatusNotFound, "share links are not served here"}
	}
	dev := projections.DeviceID(strings.TrimSpace(req.Friend))
	if err := projections.ValidDeviceID(dev); err != nil {
		return ShareMade{}, requestError{http.StatusBadRequest, err.Error()}
	}
	rd := s.proj(r)
	// A friend the viewer may not see is as unknown as one that does not
	// exist: the answer does not tell them apart.
	if _, ok := rd.Friend(dev); !ok {
		return ShareMade{}, requestError{http.StatusNotFound, fmt.Sprintf("no friend %q", dev)}
	}
	if !v.Open && !mayShare(v.user, dev) {
		return ShareMade{}, requestError{http.StatusForbidden, fmt.Sprintf("you may share only your own devices, not %q (an admin may share anyone's)", dev)}
	}
	now := s.now()
	expires, err := ShareExpiry(req, now, s.pageFor(r, "", "").Now.Location())
	if err != nil {
		return ShareMade{}, requestError{http.StatusBadRequest, err.Error()}
	}
	var area string
	if p := strings.TrimSpace(req.Place); p != "" {
		for _, a := range rd.Areas() {
			if a.AppliesTo(dev) && strings.EqualFold(strings.TrimSpace(a.Name), p) {
				area = a.ID
				break
			}
		}
		if area == "" {
			return ShareMade{}, requestError{http.StatusBadRequest, fmt.Sprintf("no place %q for %s", p, dev)}
		}
	}
	owner := v.Name // "" in open mode
	running := 0
	for _, l := range s.Shares.Shares() {
		if l.Owner == owner && l.Active(now) {
			running++
		}
	}
	if running >= projections.MaxSharesPerOwner {
		return ShareMade{}, requestError{http.StatusConflict, fmt.Sprintf("%d links are running, the most allowed: revoke one first", running)}
	}
	token, hash, id := projections.NewShareToken()
	c := projections.ShareCommand{Action: projections.ShareCreate, Link: id, Device: dev, Owner: owner, Hash: hash,
		Expires: expires, UntilArea: area}
	seq, err := s.appendShare(r.Context(), issuer(v), c)
	if err != nil {
		return ShareMade{}, err
	}
	l, ok := s.Shares.Share(id)
	if !ok {
		return ShareMade{}, fmt.Errorf("share link %s (event %d) is not in the projections", id, seq)
	}
	s.Logger.Info("share link made", "link", id, "device", dev, "owner", owner, "expires", expires, "until_area", area, "seq", seq)
	return ShareMade{Link: s.shareInfo(l, rd.Areas(), now), URL: s.shareURL(r, token), Token: token}, nil
}

// ShareExpiry is when a link asked for at now ends: For after now, or
// Until (RFC 3339, or a local time in loc), or for a link that ends at a
// place alone shareDefaultPlaceFor; one hour when nothing is said.
func ShareExpiry(req ShareRequest, now time.Time, loc *time.Location) (time.Time, error) {
	forS, untilS := strings.TrimSpace(req.For), strings.TrimSpace(req.Until)
	switch {
	case forS != "" && untilS != "":
		return time.Time{}, errors.New("give either for (a duration) or until (a time), not both")
	case forS != "":
		d, err := projections.ParseShareFor(forS)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	case untilS != "":
		t, err := time.Parse(time.RFC3339, untilS)
		if err != nil {
			if t, err = time.ParseInLocation("2006-01-02T15:04", untilS, loc); err != nil {
				return time.Time{}, fmt.Errorf("until %q: want a time like 2026-12-06T18:30 or RFC 3339", untilS)
			}
		}
		if d := t.Sub(now); d < projections.MinShareFor || d > projections.MaxShareFor {
			return time.Time{}, fmt.Errorf("until %q: a link lives from %v to %v from now", untilS, projections.MinShareFor, projections.MaxShareFor)
		}
		return t.UTC().Truncate(time.Second), nil
	case strings.TrimSpace(req.Place) != "":
		return now.Add(shareDefaultPlaceFor).UTC().Truncate(time.Second), nil
	}
	return now.Add(time.Hour).UTC().Truncate(time.Second), nil
}

// revokeShare revokes link id for the viewer (their own links; an admin
// any). A link already ended is answered as it is.
func (s *Server) revokeShare(r *http.Request, id string) (ShareInfo, error) {
	v := ViewerFrom(r.Context())
	if s.Shares == nil {
		return ShareInfo{}, requestError{http.StatusNotFound, "share links are not served here"}
	}
	l, ok := s.Shares.Share(id)
	if !ok || !(v.Open || v.Admin || (v.Name != "" && l.Owner == v.Name)) {
		return ShareInfo{}, requestError{http.StatusNotFound, fmt.Sprintf("no share link %q", id)}
	}
	now := s.now()
	if l.Active(now) {
		seq, err := s.appendShare(r.Context(), issuer(v), projections.ShareCommand{Action: projections.ShareRevoke, Link: id})
		if err != nil {
			return ShareInfo{}, err
		}
		s.Logger.Info("share link revoked", "link", id, "device", l.Device, "by", issuer(v), "seq", seq)
		l, _ = s.Shares.Share(id)
	}
	return s.shareInfo(l, s.proj(r).Areas(), now), nil
}

func (s *Server) shareList(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, s.sharesFor(r))
}

func (s *Server) shareCreateAPI(w http.ResponseWriter, r *http.Request) {
	var req ShareRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {\"friend\": \"user/device\", \"for\": \"1h\"}: "+err.Error(), http.StatusBadRequest)
		return
	}
	made, err := s.makeShare(r, req)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusCreated, made)
}

func (s *Server) shareRevokeAPI(w http.ResponseWriter, r *http.Request) {
	info, err := s.revokeShare(r, chi.URLParam(r, "id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, info)
}

// shareManageModel is /share's model for the viewer.
func (s *Server) shareManageModel(r *http.Request) views.ShareManagePage {
	v := ViewerFrom(r.Context())
	m := views.ShareManagePage{Page: s.pageFor(r, "Share a live location", "share"), NoAccount: v.Name == "" && !v.Open,
		Friend: r.URL.Query().Get("friend")}
	rd := s.proj(r)
	for _, f := range rd.Friends() {
		if v.Open || mayShare(v.user, f.ID) {
			m.Friends = append(m.Friends, views.ShareFriend{ID: string(f.ID), Name: f.DisplayName()})
		}
	}
	areas := rd.Areas()
	seen := map[string]bool{}
	for _, a := range areas {
		if a.HasGeometry() && !seen[strings.ToLower(a.Name)] {
			seen[strings.ToLower(a.Name)] = true
			m.Places = append(m.Places, a.Name)
		}
	}
	slices.Sort(m.Places)
	for _, l := range s.sharesFor(r) {
		name := l.Device
		if f, ok := rd.Friend(projections.DeviceID(l.Device)); ok {
			name = f.DisplayName() + " (" + l.Device + ")"
		}
		until := l.Expires
		if !l.Ended.IsZero() {
			until = l.Ended
		}
		m.Links = append(m.Links, views.ShareRow{ID: l.ID, Friend: name, Owner: l.Owner, Created: l.Created, Until: until,
			Place: l.Place, Status: l.Status, Live: l.Live, Views: l.Views, Last: l.LastView})
	}
	return m
}

func (s *Server) shareManagePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, views.ShareManageView(s.shareManageModel(r)))
}

func (s *Server) shareManageCreate(w http.ResponseWriter, r *http.Request) {
	req := ShareRequest{Friend: r.PostFormValue("friend"), For: r.PostFormValue("for"), Until: r.PostFormValue("until"),
		Place: r.PostFormValue("place")}
	if req.Until != "" && req.For != "" {
		req.For = "" // the form's time wins over its default duration
	}
	made, err := s.makeShare(r, req)
	m := s.shareManageModel(r)
	m.Friend, m.For, m.Until, m.Place = req.Friend, req.For, req.Until, req.Place
	code := http.StatusOK
	if err != nil {
		var re requestError
		if !errors.As(err, &re) {
			s.Logger.Error("making a share link failed", "err", err)
			re = requestError{http.StatusInternalServerError, "The link could not be made; the server's log says why."}
		}
		code, m.Message = re.code, re.msg
	} else {
		friend := made.Link.Device
		if f, ok := s.proj(r).Friend(projections.DeviceID(friend)); ok {
			friend = f.DisplayName()
		}
		m.Made = &views.ShareMade{URL: made.URL, Friend: friend, Until: made.Link.Expires, Place: made.Link.Place}
		w.Header().Set("Cache-Control", "no-store")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	s.render(w, r, views.ShareManageView(m))
}

func (s *Server) shareManageRevoke(w http.ResponseWriter, r *http.Request) {
	info, err := s.revokeShare(r, r.PostFormValue("link"))
	m := s.shareManageModel(r)
	code := http.StatusOK
	if err != nil {
		var re requestError
		if !errors.As(err, &re) {
			s.Logger.Error("revoking a share link failed", "err", err)
			re = requestError{http.StatusInternalServerError, "The link could not be revoked; the server's log says why."}
		}
		code, m.Message = re.code, re.msg
	} else {
		m.Done = "The link for " + info.Device + " is revoked: its open pages stop now."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	s.render(w, r, views.ShareManageView(m))
}
