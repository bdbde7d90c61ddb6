package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestClassicProgramConverges(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-nodes", "3", "-rounds", "2", "-interval", "50ms"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	m := regexp.MustCompile(`all 3 instances agree: the cluster served (\d+) requests`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no agreement line:\n%s", s)
	}
	// The last round's lines name every instance with its value.
	for _, name := range []string{"skipper-0", "skipper-1", "skipper-2"} {
		if !strings.Contains(s, name+" sees ") {
			t.Errorf("no line for %s:\n%s", name, s)
		}
	}
	if got := strings.Count(errOut.String(), "started NodeInfo{name: skipper-"); got != 3 {
		t.Errorf("%d start lines, want 3:\n%s", got, errOut.String())
	}
}

func TestClassicFlags(t *testing.T) {
	for _, args := range [][]string{{"-nodes", "0"}, {"-rounds", "0"}, {"-interval", "0s"}, {"-bogus"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}

// The program must stay a classic-API program: besides the standard
// library it imports only the swarm package, and calls only what skipper's
// swarm package offered.
func TestClassicUsesOnlyThePredecessorsAPI(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if strings.Contains(path, ".") && path != "github.com/shoal-go/shoal/swarm" {
			t.Errorf("imports %s: only the swarm package and the standard library", path)
		}
	}
	full, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	classic := map[string]bool{
		"Options": true, "NodeInfo": true, "NewStaticNodeInfo": true, "NewStaticSwarm": true,
		"Start": true, "Swarm": true, "ShareValue": true, "Values": true, "Local": true, "Leave": true,
	}
	ast.Inspect(full, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == "swarm" && !classic[sel.Sel.Name] {
			t.Errorf("uses swarm.%s, which skipper's swarm package did not have", sel.Sel.Name)
		}
		return true
	})
}
