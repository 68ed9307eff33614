package testnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"allforone/node"
	"allforone/tasks"
	"allforone/tasks/examples"
	"allforone/tasks/wasmtest"
)

// Plan defaults.
const (
	defaultPlanMemoryMiB = 64
	defaultPlanTimeout   = 30 * time.Second
	defaultPlanMaxOutput = 1 << 20
)

// module returns the batch's WebAssembly module.
func (sc *Scenario) module() ([]byte, error) {
	name := sc.Batch.Module
	if name == "echo" {
		return wasmtest.Echo(), nil
	}
	if m, ok := examples.Module(name); ok {
		return m, nil
	}
	if strings.HasSuffix(name, ".wasm") {
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(sc.dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("batch.module: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("batch.module: %q is not echo, an example (%s) or a .wasm file", name, strings.Join(examples.Names(), ", "))
}

// request is the submission of the batch's round-th copy (0 first).
func (sc *Scenario) request(round int) (node.SubmitRequest, error) {
	mod, err := sc.module()
	if err != nil {
		return node.SubmitRequest{}, err
	}
	b := sc.Batch
	prefix := b.Range.Prefix
	if prefix == "" && b.Module == "mandelbrot" {
		prefix = DefaultDemoSpec().Prefix()
	}
	mem := b.Limits.MemoryMiB
	if mem == 0 {
		mem = defaultPlanMemoryMiB
	}
	timeout := b.Limits.Timeout.D()
	if timeout == 0 {
		timeout = defaultPlanTimeout
	}
	maxOut := b.Limits.MaxOutputBytes
	if maxOut == 0 {
		maxOut = defaultPlanMaxOutput
	}
	name := sc.Name
	if round > 0 {
		name = fmt.Sprintf("%s #%d", sc.Name, round+1)
	}
	return node.SubmitRequest{
		Name:   name,
		Module: mod,
		Inputs: []node.SubmitInput{{Range: &tasks.Range{Start: b.Range.Start, End: b.Range.End,
			Prefix: []byte(prefix), Suffix: []byte(b.Range.Suffix)}}},
		MemoryPages:    mem * 16, // 64 KiB pages
		TimeoutMS:      uint64(timeout.Milliseconds()),
		MaxOutputBytes: maxOut,
		Redundancy:     b.Redundancy,
		Replication:    b.Replication,
	}, nil
}
