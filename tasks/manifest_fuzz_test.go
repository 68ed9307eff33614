package tasks

import (
	"bytes"
	"testing"
)

// FuzzDecodeManifest feeds arbitrary bytes to the manifest decoder, which will read network
// input: it must never panic, must refuse what is not canonical, and everything it accepts
// must re-encode to the same bytes and survive validation, verification and expansion.
// The seed corpus is in testdata/fuzz/FuzzDecodeManifest.
func FuzzDecodeManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		again, err := m.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted bytes re-encode differently (%v)", err)
		}
		_ = m.Verify()
		if m.Validate() != nil {
			return
		}
		n := m.NumTasks()
		if n < 1 || n > MaxTasks {
			t.Fatalf("valid manifest with %d tasks", n)
		}
		if _, err := m.Input(n - 1); err != nil {
			t.Fatalf("last task: %v", err)
		}
		if _, err := m.Input(n); err == nil {
			t.Fatal("task past the end exists")
		}
	})
}
