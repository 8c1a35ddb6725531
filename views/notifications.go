package views

import "time"

// Notice is one notification for the viewer's open pages: the live
// stream carries it (LiveNotices) and static/js/notify.js shows it with
// the browser's Notification API.
type Notice struct {
	ID    string // the notification's id: the browser shows one id once
	Rule  string // the rule that fired
	Title string
	Body  string
	At    time.Time
}
