// Package tasks is the compute domain of allforone: batch manifests and their canonical
// signed encoding, content IDs for modules, inputs and outputs, task IDs, a content-addressed
// blob store over go-datastore, the sandboxed WebAssembly executor (wazero, WASI preview 1),
// and a local runner that runs a batch on this machine. Package tasks/runner runs the same
// executor in runner processes, with the limits enforced from outside; the daemon and
// `run --local` use it.
//
// The package has no libp2p host and no goroutines of its own beyond the executor's task runs:
// time and randomness come in as inputs (a manifest's creation time, a task's seed), effects
// go out as values. See README.md in this folder for the manifest format, the batch file
// format and the sandbox's determinism measures.
package tasks

//go:generate go run ./examples/internal/wasmbuild/gen -dir testdata goprobe=./testdata/goprobe
