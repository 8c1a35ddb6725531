package web_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"tracker/projections"
	"tracker/projections/geo"
	"tracker/static"
	"tracker/views"
)

// BenchmarkDashboardRender renders the whole dashboard page for 200
// friends and 50 areas (a large family-and-friends server) and for 10,000
// devices (whose list pages at views.ListPage), what GET / costs besides
// reading the projections:
//
//	go test -run '^$' -bench DashboardRender ./views/web/
//
// ms/op is one page; KB/page its size.
func BenchmarkDashboardRender(b *testing.B) {
	for _, size := range []struct{ friends, areas int }{{200, 50}, {10000, 50}} {
		b.Run(fmt.Sprintf("friends=%d/areas=%d", size.friends, size.areas), func(b *testing.B) {
			benchDashboardRender(b, size.friends, size.areas)
		})
	}
}

func benchDashboardRender(b *testing.B, nf, na int) {
	now := time.Date(2026, 3, 10, 18, 0, 0, 0, time.UTC)
	friends, areas, feed := renderFixture(now, nf, na)
	page := views.Page{Title: "Dashboard", Assets: static.New(), Active: "dashboard", Now: now, Admin: true,
		Tiles: views.Tiles{URL: "https://tile.openstreetmap.org/{z}/{x}/{y}.png", Attribution: "© OpenStreetMap contributors"}}
	ctx := context.Background()
	var size countWriter
	if err := views.DashboardPage(views.BuildDashboard(page, views.ListOptions{}, friends, areas, feed)).Render(ctx, &size); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		m := views.BuildDashboard(page, views.ListOptions{}, friends, areas, feed)
		if err := views.DashboardPage(m).Render(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start))/float64(time.Millisecond)/float64(b.N), "ms/op")
	b.ReportMetric(float64(size)/1024, "KB/page")
}

type countWriter int

func (w *countWriter) Write(p []byte) (int, error) {
	*w += countWriter(len(p))
	return len(p), nil
}

// renderFixture builds projection views as the projector would return
// them: nf friends with cards, positions, battery and speed, some in
// areas; na areas (circles and polygons) with their members; 30 feed lines.
func renderFixture(now time.Time, nf, na int) ([]projections.FriendView, []projections.AreaView, []projections.AreaEvent) {
	yes := true
	areas := make([]projections.AreaView, na)
	for i := range areas {
		a := projections.Area{ID: fmt.Sprintf("s:area %02d", i), Name: fmt.Sprintf("Area %02d", i), Origin: projections.OriginServer, Defined: now.Add(-30 * 24 * time.Hour), Seq: uint64(i + 1)}
		c := geo.Point{Lat: 51.4 + float64(i)/100, Lon: -0.2 + float64(i)/200}
		if i%5 == 4 {
			a.Polygon = []geo.Point{c, {Lat: c.Lat + 0.002, Lon: c.Lon}, {Lat: c.Lat + 0.002, Lon: c.Lon + 0.003}, {Lat: c.Lat, Lon: c.Lon + 0.003}}
		} else {
			a.Center, a.Radius = &c, 150
		}
		if i%7 == 6 {
			a.Origin, a.Owner, a.RID = projections.OriginPhone, projections.DeviceID(fmt.Sprintf("user%03d/phone", i)), fmt.Sprintf("r%d", i)
		}
		areas[i] = projections.AreaView{Area: a}
	}
	friends := make([]projections.FriendView, nf)
	for i := range friends {
		id := projections.MakeDeviceID(fmt.Sprintf("user%03d", i), "phone")
		user, device := id.Split()
		f := projections.Friend{
			ID: id, User: user, Device: device, Name: fmt.Sprintf("Friend Number %d", i), TID: fmt.Sprintf("%02d", i%100),
			FirstSeen: now.Add(-90 * 24 * time.Hour), LastSeen: now.Add(-time.Duration(i) * time.Minute), Online: i%9 != 0,
			Location: &projections.Point{Seq: uint64(1000 + i), Tst: now.Add(-time.Duration(i) * time.Minute).Unix(),
				Lat: 51.4 + float64(i%na)/100, Lon: -0.2 + float64(i%na)/200, Acc: 12, Vel: i % 30, Batt: 20 + i%80, Conn: "m", Trigger: "p"},
		}
		fv := projections.FriendView{Friend: f}
		if i%3 == 0 { // a third of the friends are in an area
			a := &areas[i%na]
			p := projections.Presence{Device: id, Area: a.ID, AreaName: a.Name, Since: now.Add(-time.Hour).Unix(), Geometry: &yes}
			fv.Areas = append(fv.Areas, p)
			a.Members = append(a.Members, p)
		}
		friends[i] = fv
	}
	feed := make([]projections.AreaEvent, 30)
	for i := range feed {
		a := areas[i%na]
		ev := "enter"
		if i%2 == 1 {
			ev = "leave"
		}
		feed[i] = projections.AreaEvent{Seq: uint64(5000 + i), Tst: now.Add(-time.Duration(30-i) * 10 * time.Minute).Unix(),
			Device: friends[i].ID, Area: a.ID, AreaName: a.Name, Event: ev, Origin: projections.OriginGeometry}
	}
	return friends, areas, feed
}
