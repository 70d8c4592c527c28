package authz

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// TestReasonsListsEveryReason reads the Reason constants from the source,
// so that a reason added without a place in Reasons fails here rather
// than go uncounted by metrics.
func TestReasonsListsEveryReason(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []Reason
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			for _, v := range vs.Values {
				lit := v.(*ast.BasicLit)
				declared = append(declared, Reason(lit.Value[1:len(lit.Value)-1]))
			}
		}
	}
	got := Reasons()
	if len(declared) < 16 || got[0] != ReasonAllowed {
		t.Fatalf("read %d Reason constants from reason.go; Reasons() = %q", len(declared), got)
	}
	slices.Sort(declared)
	slices.Sort(got)
	if !slices.Equal(declared, got) {
		t.Errorf("Reasons() = %q\nreason.go declares %q", got, declared)
	}
}
