package static

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestStylesheetBalanced: every block in app.css is closed. The file is
// shared by every page, each adding its own section; one lost "}" (a
// merge dropped the end of a media query) put every later section inside
// that query, and the time bar, the corrections and the dashboard's
// height silently lost their rules on wide screens.
func TestStylesheetBalanced(t *testing.T) {
	b, err := os.ReadFile("css/app.css")
	if err != nil {
		t.Fatal(err)
	}
	css := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllStringFunc(string(b), func(c string) string {
		return strings.Repeat("\n", strings.Count(c, "\n")) // keep line numbers
	})
	orig := strings.Split(string(b), "\n")
	depth := 0
	for i, line := range strings.Split(css, "\n") {
		for _, r := range line {
			switch r {
			case '{':
				depth++
			case '}':
				depth--
				if depth < 0 {
					t.Fatalf("app.css line %d: a } closes nothing", i+1)
				}
			}
		}
		// Sections start at the top level: a section comment after an
		// unclosed block is the mistake this test is for.
		if depth != 0 && strings.HasPrefix(strings.TrimSpace(orig[min(i+1, len(orig)-1)]), "/* --- ") {
			t.Errorf("app.css line %d: a section starts inside an unclosed block", i+1)
		}
	}
	if depth != 0 {
		t.Errorf("app.css ends with %d block(s) unclosed", depth)
	}
}
