// Command gen builds WASI modules from Go packages and records the Go version that built
// them. Run it through go generate:
//
//	gen -dir wasm mandelbrot=./mandelbrot primes=./primes ...
//
// writes wasm/mandelbrot.wasm, wasm/primes.wasm, ... and wasm/GOVERSION.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"allforone/tasks/examples/internal/wasmbuild"
)

func main() {
	dir := flag.String("dir", "wasm", "directory for the built modules and the GOVERSION file")
	flag.Parse()
	if err := run(*dir, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string, targets []string) error {
	if len(targets) == 0 {
		return fmt.Errorf("no targets: give name=./package pairs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, t := range targets {
		name, pkg, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("target %q: want name=./package", t)
		}
		if err := wasmbuild.Build("", pkg, filepath.Join(dir, name+".wasm")); err != nil {
			return err
		}
	}
	v, err := wasmbuild.GoVersion("")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, wasmbuild.VersionFile), []byte(v+"\n"), 0o644)
}
