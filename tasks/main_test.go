package tasks

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// testCacheDir is a wazero compilation cache shared by the package's tests, so each
// Go-built module compiles once per test run rather than once per test.
var testCacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "allforone-tasks-test-cache")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testCacheDir = dir
	code := 0
	func() {
		defer os.RemoveAll(dir)
		code = m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// skipGoModulesInShort skips tests that compile Go-built modules (megabytes of wasm: a
// second or two each, and about 20 s under the race detector) when -short is set. CI runs
// them in the full `go test ./...` pass.
func skipGoModulesInShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("compiles a Go-built module: slow under -race; runs without -short")
	}
}
