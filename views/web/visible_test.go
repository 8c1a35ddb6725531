package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Handlers read the projections only through s.proj: the Server's
// Projections field is touched only where New hands it to the gate,
// and the gate only where a viewer's rule scopes it (visible.go). A new
// handler that reads s.Projections or s.reads directly fails here.
func TestHandlersReadThroughGate(t *testing.T) {
	allowed := map[string]map[string]bool{
		"Projections": {"web.go:New": true},
		"reads":       {"web.go:New": true, "visible.go:projAs": true, "visible.go:projOne": true},
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			checked++
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if where, ok := allowed[sel.Sel.Name]; ok && !where[name+":"+fn.Name.Name] {
					t.Errorf("%s: %s reads %s directly; read through s.proj(r), which applies the viewer's rights",
						fset.Position(sel.Pos()), fn.Name.Name, sel.Sel.Name)
				}
				return true
			})
		}
	}
	if checked < 100 {
		t.Fatalf("checked only %d functions: is the test running in views/web?", checked)
	}
}
