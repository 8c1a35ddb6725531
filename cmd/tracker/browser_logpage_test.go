package main

import (
	"fmt"
	"testing"
)

// On a phone (360 and 390 px) the event log's rows are cards: nothing in
// the log scrolls sideways, and each row's number, time, topic and kind
// are on screen, in the viewport's width. Every time is a views.Time
// (<time datetime data-fmt title>).
func TestBrowserLogPageOnPhones(t *testing.T) {
	b := newBrowser(t)
	f := startPagesFixture(t, false)
	f.loginBrowser(t, b, pagesAdmin)
	for _, width := range []int64{360, 390} {
		f.visit(t, b, pageCase{name: "log", as: pagesAdmin, path: "/log", status: 200}, width, 800)
		settle(t, b)
		msg := eval[string](t, b, fmt.Sprintf(`(function(){
	var w = %d, rows = document.querySelectorAll('[data-testid="log-row"]');
	if (rows.length === 0) return "no log rows";
	var wide = Array.from(document.querySelectorAll("main *")).filter(function(el){
		return el.scrollWidth > el.clientWidth + 1 && /(auto|scroll)/.test(getComputedStyle(el).overflowX);
	});
	if (wide.length) return "scrolls sideways inside: " + wide.map(function(el){ return el.tagName + "." + el.className + " " + el.scrollWidth + ">" + el.clientWidth; }).join(", ");
	for (var i = 0; i < rows.length; i++) {
		var r = rows[i];
		var parts = [r.querySelector(".log-seq"), r.querySelector("time"), r.querySelector('[data-testid="topic"]'), r.querySelector('[data-testid="kind"]')];
		for (var j = 0; j < parts.length; j++) {
			var p = parts[j];
			if (!p) return "row " + i + ": part " + j + " missing";
			var box = p.getBoundingClientRect();
			if (box.width === 0 || box.left < 0 || box.right > w + 1) return "row " + r.dataset.seq + ": " + (p.className || p.tagName) + " at " + Math.round(box.left) + ".." + Math.round(box.right) + " px";
		}
	}
	var times = document.querySelectorAll("main time");
	for (var k = 0; k < times.length; k++) {
		var tm = times[k];
		if (!tm.getAttribute("datetime") || !tm.dataset.fmt || !tm.title) return "a time without datetime, data-fmt or title: " + tm.outerHTML;
	}
	return "";
})()`, width))
		if msg != "" {
			t.Errorf("log page at %d px: %s", width, msg)
		}
	}
}
