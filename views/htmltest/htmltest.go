// Package htmltest reads HTML the way the tests of pages and live updates
// need: parsed, elements selected by data-testid or any attribute, text
// with white space collapsed. Import it from _test.go files only.
package htmltest

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Find returns every element under n for which ok holds, in document order.
func Find(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && ok(d) {
			out = append(out, d)
		}
	}
	return out
}

// ByTestID returns the elements under n with data-testid id.
func ByTestID(n *html.Node, id string) []*html.Node {
	return Find(n, func(d *html.Node) bool { return Attr(d, "data-testid") == id })
}

// One returns the only element under n with data-testid id.
func One(tb testing.TB, n *html.Node, id string) *html.Node {
	tb.Helper()
	got := ByTestID(n, id)
	if len(got) != 1 {
		tb.Fatalf("%d elements with data-testid=%q, want 1", len(got), id)
	}
	return got[0]
}

// ByID returns the element with id, nil when there is none.
func ByID(n *html.Node, id string) *html.Node {
	if got := Find(n, func(d *html.Node) bool { return Attr(d, "id") == id }); len(got) > 0 {
		return got[0]
	}
	return nil
}

// Attr is n's attribute key, "" when it has none.
func Attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// HasAttr reports whether n has the attribute key.
func HasAttr(n *html.Node, key string) bool {
	return slices.ContainsFunc(n.Attr, func(a html.Attribute) bool { return a.Key == key })
}

// Text is the node's text with runs of white space made one space.
func Text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// Texts is the Text of each node.
func Texts(ns []*html.Node) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, Text(n))
	}
	return out
}

// Element is one start tag of a fragment.
type Element struct {
	Tag   string
	Attrs map[string]string
}

// Elements lists the start tags of an HTML fragment in document order.
// It tokenizes rather than parses, so a fragment's table rows or other
// elements out of their usual context (htmx out-of-band swaps) are kept.
func Elements(fragment string) []Element {
	var out []Element
	z := html.NewTokenizer(strings.NewReader(fragment))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			e := Element{Tag: tok.Data, Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.Attrs[a.Key] = a.Val
			}
			out = append(out, e)
		}
	}
}

// FindElements returns the elements of a fragment whose attribute name
// has value.
func FindElements(fragment, name, value string) []Element {
	var out []Element
	for _, e := range Elements(fragment) {
		if v, ok := e.Attrs[name]; ok && v == value {
			out = append(out, e)
		}
	}
	return out
}
