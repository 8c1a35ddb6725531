package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The house's one rule of direction: events ← projections ← views ← cmd.
// A package may import its own layer and those below; static (the
// embedded assets) imports nothing of ours and anyone may use it.
var layers = map[string]int{"static": 0, "events": 1, "projections": 2, "views": 3, "cmd": 4}

// layerOf is the layer of an import path of this module, or -1.
func layerOf(importPath string) int {
	rest, ok := strings.CutPrefix(importPath, "tracker/")
	if !ok {
		return -1
	}
	top, _, _ := strings.Cut(rest, "/")
	if l, ok := layers[top]; ok {
		return l
	}
	return -1
}

// againstTheGrain lists the imports (package -> imported) that point up.
func againstTheGrain(imports map[string][]string) []string {
	var bad []string
	for pkg, imps := range imports {
		from := layerOf(pkg)
		for _, imp := range imps {
			if from >= 0 && layerOf(imp) > from {
				bad = append(bad, pkg+" imports "+imp)
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// moduleImports reads the imports of every Go file (tests included)
// under the module root, by package import path.
func moduleImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		pkg := path.Join("tracker", filepath.ToSlash(rel))
		for _, imp := range f.Imports {
			v, _ := strconv.Unquote(imp.Path.Value)
			out[pkg] = append(out[pkg], v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportsPointOneWay(t *testing.T) {
	imports := moduleImports(t, filepath.Join("..", ".."))
	if _, ok := imports["tracker/events/badgerlog"]; !ok || len(imports) < 20 {
		t.Fatalf("read the imports of %d packages, without events/badgerlog: not the module", len(imports))
	}
	if bad := againstTheGrain(imports); len(bad) > 0 {
		t.Errorf("imports against events ← projections ← views ← cmd:\n  %s", strings.Join(bad, "\n  "))
	}
}

// TestAgainstTheGrainCatches: the check itself finds an import that points
// up, at every distance, and lets the right direction and outside
// packages through.
func TestAgainstTheGrainCatches(t *testing.T) {
	tests := []struct {
		name    string
		imports map[string][]string
		want    []string
	}{
		{"down and sideways", map[string][]string{
			"tracker/cmd/tracker":       {"tracker/views/web", "tracker/events/badgerlog", "fmt"},
			"tracker/views/web":         {"tracker/views/live", "tracker/projections", "tracker/static"},
			"tracker/projections/store": {"tracker/events/badgerdb", "tracker/projections"},
			"tracker/events/badgerlog":  {"tracker/events", "github.com/dgraph-io/badger/v4"},
		}, nil},
		{"projections to views", map[string][]string{"tracker/projections/projector": {"tracker/views/live"}},
			[]string{"tracker/projections/projector imports tracker/views/live"}},
		{"events to cmd", map[string][]string{"tracker/events/broker": {"tracker/cmd/tracker"}},
			[]string{"tracker/events/broker imports tracker/cmd/tracker"}},
		{"static to views", map[string][]string{"tracker/static": {"tracker/views"}},
			[]string{"tracker/static imports tracker/views"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := againstTheGrain(tt.imports); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
