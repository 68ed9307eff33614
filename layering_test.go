// Package allforone_test checks the module as a whole: that its imports point one way.
//
// The layers (DESIGN.md, README "Layout"): protocol <- tasks <- node <- cmd, and
// node <- testnet. A package may import its own tree (tasks/runner imports tasks; Go itself
// keeps internal/ private to its parent and forbids cycles) and the trees below it. Helpers
// live in the internal/ of the package that uses them, not in new top-level folders.
//
// cmd/allforone imports testnet, so the shipped binary links the harness: `allforone testnet
// up/run/soak` and `allforone demo` are subcommands of the one binary the README promises.
// What the daemon runs stays out of it: only those subcommands' files (testnet*.go, demo*.go)
// may import testnet, and no package that the binary links only for the harness has an
// init function, so linking it runs nothing in a daemon.
package allforone_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "allforone"

// layers are the top-level folders and the top-level folders their packages may import.
var layers = map[string][]string{
	"protocol": {},
	"tasks":    {"protocol"},
	"node":     {"protocol", "tasks"},
	"testnet":  {"protocol", "tasks", "node"},
	"cmd":      {"protocol", "tasks", "node", "testnet"}, // testnet: see harnessFile
	"docker":   {},                                       // the container images' files; its test reads compose.yaml
}

const layerSummary = "protocol <- tasks <- node <- cmd, node <- testnet"

// harnessFile reports whether a file of cmd/ may import testnet: the subcommands that drive
// the harness (allforone testnet ..., allforone demo), and their tests.
func harnessFile(rel string) bool {
	dir, name := path.Split(rel)
	return dir == "cmd/allforone/" && (strings.HasPrefix(name, "testnet") || strings.HasPrefix(name, "demo"))
}

// goFile is one Go file of the module and the module packages it imports.
type goFile struct {
	rel     string // slash-separated path from the module root
	imports []goImport
}

type goImport struct {
	path string
	line int
}

// checkLayering returns one message per import that breaks the layering, naming the file,
// the line, the import and what the file's layer may import.
func checkLayering(files []goFile) []string {
	var bad []string
	for _, f := range files {
		top, _, _ := strings.Cut(f.rel, "/")
		if !strings.Contains(f.rel, "/") {
			top = "" // a file at the module root: this test
		}
		may, known := layers[top]
		if !known && top != "" {
			bad = append(bad, fmt.Sprintf("%s: the top-level folder %s/ is in no layer (%s): put helpers in the internal/ of the package that uses them, or give the folder its place in layers in layering_test.go", f.rel, top, layerSummary))
			continue
		}
		for _, imp := range f.imports {
			target := strings.TrimPrefix(imp.path, module+"/")
			to, _, _ := strings.Cut(target, "/")
			switch {
			case top == "" || to == top:
				// the module root's test sees everything; a tree imports itself
			case !slices.Contains(may, to):
				allowed := "nothing of the module: it is a leaf"
				if len(may) > 0 {
					allowed = "only " + strings.Join(may, ", ")
				}
				bad = append(bad, fmt.Sprintf("%s:%d imports %s: %s may import %s (layers: %s)", f.rel, imp.line, imp.path, top, allowed, layerSummary))
			case top == "cmd" && to == "testnet" && !harnessFile(f.rel):
				bad = append(bad, fmt.Sprintf("%s:%d imports %s: in cmd/ only the subcommands that drive the harness (cmd/allforone/testnet*.go, demo*.go) may, so that what the daemon runs stays out of it", f.rel, imp.line, imp.path))
			}
		}
	}
	return bad
}

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath                                                   string
	Dir                                                          string
	Deps                                                         []string
	Imports                                                      []string
	GoFiles, CgoFiles, TestGoFiles, XTestGoFiles, IgnoredGoFiles []string
}

// goList runs go list -json with args in the module root.
func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e", "-json=ImportPath,Dir,Imports,GoFiles,CgoFiles,TestGoFiles,XTestGoFiles,IgnoredGoFiles"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// moduleFiles parses the imports of every Go file of the module: every platform's files
// (go list's IgnoredGoFiles), tests included.
func moduleFiles(t *testing.T, pkgs []listedPackage) []goFile {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []goFile
	fset := token.NewFileSet()
	for _, p := range pkgs {
		for _, name := range slices.Concat(p.GoFiles, p.CgoFiles, p.TestGoFiles, p.XTestGoFiles, p.IgnoredGoFiles) {
			abs := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(fset, abs, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatalf("parse %s: %v", abs, err)
			}
			rel, err := filepath.Rel(root, abs)
			if err != nil {
				t.Fatal(err)
			}
			gf := goFile{rel: filepath.ToSlash(rel)}
			for _, imp := range f.Imports {
				ip, _ := strconv.Unquote(imp.Path.Value)
				if ip == module || strings.HasPrefix(ip, module+"/") {
					gf.imports = append(gf.imports, goImport{ip, fset.Position(imp.Pos()).Line})
				}
			}
			files = append(files, gf)
		}
	}
	return files
}

// The module's imports point one way, in every file of every platform, tests included.
func TestLayering(t *testing.T) {
	files := moduleFiles(t, goList(t, "./..."))
	if len(files) < 100 {
		t.Fatalf("found %d Go files; expected the whole module", len(files))
	}
	for _, msg := range checkLayering(files) {
		t.Error(msg)
	}
}

// The checker names the file, the line and the import that break the layering.
func TestLayeringNamesOffendingImport(t *testing.T) {
	files := []goFile{
		{rel: "node/steward.go", imports: []goImport{{"allforone/tasks", 5}, {"allforone/testnet", 6}}},
		{rel: "protocol/codec.go", imports: []goImport{{"allforone/protocol/pb", 3}, {"allforone/tasks", 4}}},
		{rel: "tasks/runner/runner.go", imports: []goImport{{"allforone/tasks", 3}}},
		{rel: "cmd/allforone/daemon.go", imports: []goImport{{"allforone/node", 3}, {"allforone/testnet", 4}}},
		{rel: "cmd/allforone/testnet_run.go", imports: []goImport{{"allforone/testnet", 4}}},
		{rel: "util/strings.go"},
	}
	got := checkLayering(files)
	want := []string{
		"node/steward.go:6 imports allforone/testnet: node may import only protocol, tasks",
		"protocol/codec.go:4 imports allforone/tasks: protocol may import nothing of the module",
		"cmd/allforone/daemon.go:4 imports allforone/testnet: in cmd/ only the subcommands",
		"util/strings.go: the top-level folder util/ is in no layer",
	}
	if len(got) != len(want) {
		t.Fatalf("checkLayering found %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want it to start %q", i, got[i], want[i])
		}
	}
}

// The packages of the module that the binary links only for the harness (testnet and what
// nothing else of cmd/allforone needs) have no init function: linking them runs nothing in
// a daemon.
func TestHarnessRunsNothingInTheDaemon(t *testing.T) {
	const bin, harness = module + "/cmd/allforone", module + "/testnet"
	pkgs := map[string]listedPackage{}
	for _, p := range goList(t, "-deps", bin) {
		pkgs[p.ImportPath] = p
	}
	if !slices.Contains(pkgs[bin].Imports, harness) {
		t.Skip("cmd/allforone no longer imports testnet: nothing of the harness is linked")
	}
	reach := func(from []string) map[string]bool {
		seen := map[string]bool{}
		var visit func(string)
		visit = func(p string) {
			if !seen[p] {
				seen[p] = true
				for _, q := range pkgs[p].Imports {
					visit(q)
				}
			}
		}
		for _, p := range from {
			visit(p)
		}
		return seen
	}
	needed := reach(slices.DeleteFunc(slices.Clone(pkgs[bin].Imports), func(p string) bool { return p == harness }))
	var harnessOnly []listedPackage
	var names []string
	for p := range reach([]string{harness}) {
		if !needed[p] && strings.HasPrefix(p, module+"/") {
			harnessOnly, names = append(harnessOnly, pkgs[p]), append(names, p)
		}
	}
	if !slices.Contains(names, harness) {
		t.Fatalf("linked only for the harness: %v; expected testnet at least", names)
	}
	fset := token.NewFileSet()
	for _, p := range harnessOnly {
		for _, name := range slices.Concat(p.GoFiles, p.CgoFiles) {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "init" {
					t.Errorf("%s has func init (%s): the daemon links %s for `allforone testnet`, so it would run in every daemon; do that work when the harness starts",
						p.ImportPath, fset.Position(fn.Pos()), p.ImportPath)
				}
			}
		}
	}
	slices.Sort(names)
	t.Logf("linked only for the harness: %s", strings.Join(names, ", "))
}
