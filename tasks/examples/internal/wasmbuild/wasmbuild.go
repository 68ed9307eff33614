// Package wasmbuild builds Go programs into WASI preview 1 modules the way the committed
// example modules are built, so a test can rebuild one and compare.
package wasmbuild

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// VersionFile is the file, next to the built modules, that records the Go version that
// built them; their bytes are reproducible only with that version.
const VersionFile = "GOVERSION"

// Build compiles the Go package pkg (a directory or import path) into a wasip1 module at
// out: GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -ldflags="-s -w". The
// environment is pinned (no cgo, no GOFLAGS, default GOWASM) so the bytes depend only on the
// source and the Go version. goTool is the go command; empty means "go".
func Build(goTool, pkg, out string) error {
	if goTool == "" {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOWASM=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s for wasip1: %w: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// GoVersion is the version of the go command goTool (empty: "go"), e.g. "go1.26.8".
func GoVersion(goTool string) (string, error) {
	if goTool == "" {
		goTool = "go"
	}
	out, err := exec.Command(goTool, "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ToolFromGOROOT is the go command of the toolchain running this program, so a test built
// with Go X rebuilds with Go X too.
func ToolFromGOROOT() string {
	return runtime.GOROOT() + "/bin/go"
}

// ClangVersionFile records the clang version that built the C examples.
const ClangVersionFile = "CLANGVERSION"

// BuildC compiles a C file into a WASI preview 1 module at out with Debian's clang and
// wasi-libc (packages clang, lld, wasi-libc, libclang-rt-dev-wasm32):
// clang --target=wasm32-wasi -O2 -s. Stripped, the bytes depend only on the source and
// the clang and wasi-libc versions.
func BuildC(src, out string) error {
	cmd := exec.Command("clang", "--target=wasm32-wasi", "-O2", "-s", "-o", out, src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("clang --target=wasm32-wasi %s: %w: %s", src, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// ClangVersion is the first line of `clang --version`, e.g. "Debian clang version 14.0.6".
func ClangVersion() (string, error) {
	out, err := exec.Command("clang", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("clang --version: %w", err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}
