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
