package views

import (
	"maps"
	"slices"
	"strings"
	"time"

	"tracker/projections"
)

// AdminUsers is the users and sharing page (/admin/users): every account
// with its role, last login and phones, the forms that change them, and
// the sharing matrix.
type AdminUsers struct {
	Page
	// Issue is this rendering's identity: each form sends it, and the
	// server derives each command's identity from it, so a form sent
	// twice (a double click, a retry) is applied once.
	Issue  string
	Users  []AdminUser
	Notice *AdminNotice
	Matrix SharingMatrix
	// AddName and AddAdmin refill the add form after a refusal.
	AddName  string
	AddAdmin bool
}

// AdminUser is one account as the page lists it.
type AdminUser struct {
	Name       string
	Admin      bool
	Self       bool // the admin looking at the page
	LastLogin  time.Time
	Restricted bool
	Sees       []string
	Devices    []AdminDevice
}

// AdminDevice is one of a user's phones, from the projections.
type AdminDevice struct {
	Device   string
	LastSeen time.Time
	Online   bool
}

// AdminNotice is the outcome of the last action, shown at the top.
type AdminNotice struct {
	Error bool
	Text  string
	// Password is a generated password, shown this once, for User.
	Password, User string
}

// SeesText says whom u sees, in words.
func (u AdminUser) SeesText() string {
	switch {
	case u.Admin:
		return "everybody (admin)"
	case !u.Restricted:
		return "everybody"
	case len(u.Sees) == 0:
		return "own phones only"
	}
	return "own phones, " + strings.Join(u.Sees, ", ")
}

// Role is "admin" or "viewer".
func (u AdminUser) Role() string {
	if u.Admin {
		return "admin"
	}
	return "viewer"
}

// SharingMatrix is who sees whom: a row per user (the viewer), a column
// per user (whose phones).
type SharingMatrix struct {
	Owners []string
	Rows   []SharingRow
}

// SharingRow is one viewer's line of the matrix.
type SharingRow struct {
	Viewer   string
	Admin    bool // admins see everybody; the row cannot be changed
	Everyone bool
	Sees     []string
}

// Sees reports whether the row's viewer sees owner's phones.
func (r SharingRow) SeesOwner(owner string) bool {
	return r.Admin || r.Everyone || owner == r.Viewer || slices.Contains(r.Sees, owner)
}

// Fixed reports whether the cell cannot be changed: admins see everybody,
// everybody sees their own phones.
func (r SharingRow) Fixed(owner string) bool { return r.Admin || owner == r.Viewer }

// SharingField is the form field of a viewer's cells.
func SharingField(viewer string) string { return "sees." + viewer }

// BuildAdminUsers makes the page from the users and the friends (the
// viewer is an admin: every friend).
func BuildAdminUsers(p Page, users []projections.User, friends []projections.FriendView) AdminUsers {
	devices := map[string][]AdminDevice{}
	for _, f := range friends {
		devices[f.User] = append(devices[f.User], AdminDevice{Device: f.Device, LastSeen: f.LastSeen, Online: f.Online})
	}
	m := AdminUsers{Page: p}
	for _, u := range users {
		ds := devices[u.Name]
		slices.SortFunc(ds, func(a, b AdminDevice) int { return strings.Compare(a.Device, b.Device) })
		m.Users = append(m.Users, AdminUser{
			Name: u.Name, Admin: u.Admin, Self: u.Name == p.User, LastLogin: u.LastLogin,
			Restricted: u.Restricted, Sees: u.Sees, Devices: ds,
		})
		m.Matrix.Rows = append(m.Matrix.Rows, SharingRow{Viewer: u.Name, Admin: u.Admin, Everyone: !u.Restricted, Sees: u.Sees})
	}
	// Columns: every account, and the owners of phones without one (a
	// phone of a service account or of open mode), whose phones can be
	// shared all the same.
	owners := map[string]bool{}
	for _, u := range users {
		owners[u.Name] = true
	}
	for _, f := range friends {
		owners[f.User] = true
	}
	m.Matrix.Owners = slices.Sorted(maps.Keys(owners))
	return m
}
