// Command gen builds WASI modules from Go packages (and C files, with clang) and records the
// toolchain versions that built them. Run it through go generate:
//
//	gen -dir wasm mandelbrot=./mandelbrot primes=./primes ... cmandel=cmandel/main.c
//
// writes wasm/mandelbrot.wasm, wasm/primes.wasm, ... and wasm/GOVERSION; a target ending in
// .c is built with clang into wasm/cmandel.wasm and wasm/CLANGVERSION, or skipped, saying
// so, when there is no clang.
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
	goTargets := 0
	for _, t := range targets {
		name, pkg, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("target %q: want name=./package", t)
		}
		out := filepath.Join(dir, name+".wasm")
		if strings.HasSuffix(pkg, ".c") {
			if err := buildC(dir, pkg, out); err != nil {
				return err
			}
			continue
		}
		goTargets++
		if err := wasmbuild.Build("", pkg, out); err != nil {
			return err
		}
	}
	if goTargets == 0 {
		return nil
	}
	v, err := wasmbuild.GoVersion("")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, wasmbuild.VersionFile), []byte(v+"\n"), 0o644)
}

// buildC builds a C target, or says why not and leaves the committed module.
func buildC(dir, src, out string) error {
	v, err := wasmbuild.ClangVersion()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: skipping %s: no clang (%v); install clang lld wasi-libc libclang-rt-dev-wasm32\n", src, err)
		return nil
	}
	if err := wasmbuild.BuildC(src, out); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, wasmbuild.ClangVersionFile), []byte(v+"\n"), 0o644)
}
