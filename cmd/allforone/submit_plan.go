package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"allforone/node"
	"allforone/tasks"
)

// A submission is planned before anything is sent: every file is checked by stat (its
// size, with its name in the error), small files are read to go inline, and the request is
// checked as the daemon will check it. Only then are the module and the larger inputs
// streamed to the daemon (POST /api/v1/blobs), and a small JSON submission names them by
// content ID. Neither side holds a file as base64 JSON.

// submitPlan is a checked submission whose larger files are still to be uploaded.
type submitPlan struct {
	req     node.SubmitRequest
	module  string         // the module file, uploaded as module_blob
	uploads map[int]string // input index -> file uploaded as that input's blob
}

// placeholderBlob stands for a file not uploaded yet while the request is checked.
var placeholderBlob = tasks.ContentID(nil).String()

// planSubmission checks spec's files and builds its request. Errors say which file and
// what to do; they are the user's to fix.
func planSubmission(spec *tasks.BatchSpec) (*submitPlan, error) {
	if err := tasks.CheckTaskCount(int64(spec.NumTasks())); err != nil {
		return nil, err
	}
	size, err := statInput("module", spec.ModulePath)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, fmt.Errorf("module %s is empty: name a WebAssembly module (.wasm)", spec.ModulePath)
	}
	p := &submitPlan{module: spec.ModulePath, uploads: make(map[int]string)}
	p.req = node.SubmitRequest{
		Name: spec.Name, ModuleBlob: placeholderBlob, Args: spec.Args, Env: spec.Env,
		MemoryPages: spec.Limits.MemoryPages, TimeoutMS: uint64(spec.Limits.Timeout.Milliseconds()),
		MaxOutputBytes: spec.Limits.MaxOutputBytes, Redundancy: spec.Redundancy, Replication: spec.Replication,
		MaxReplicas: spec.MaxReplicas, Adaptive: spec.AdaptiveReplication,
		DeadlineSec: uint64(spec.Deadline / time.Second), OutputExt: spec.OutputExt,
		Inputs: make([]node.SubmitInput, 0, len(spec.Inputs)),
	}
	inlined := 0
	var task int64 // index of the input's first task
	for i, in := range spec.Inputs {
		var si node.SubmitInput
		switch {
		case in.Range != nil:
			si.Range = in.Range // named by its values
		case in.File != "":
			si.Name = filepath.Base(in.File)
			size, err := statInput("input", in.File)
			if err != nil {
				return nil, err
			}
			if size <= tasks.MaxInlineInput && inlined+int(size) <= tasks.InlineBudget {
				if si.Data, err = os.ReadFile(in.File); err != nil {
					return nil, fmt.Errorf("input: %w", err)
				}
				if len(si.Data) > tasks.MaxInlineInput {
					return nil, fmt.Errorf("input %s grew while it was read: submit again when it is written", in.File)
				}
				inlined += len(si.Data)
				break
			}
			si.Blob = placeholderBlob
			p.uploads[i] = in.File
		default:
			si.Name, si.Data = "inline-"+strconv.FormatInt(task, 10), in.Inline
		}
		if in.Range != nil {
			task += in.Range.Count()
		} else {
			task++
		}
		p.req.Inputs = append(p.req.Inputs, si)
	}
	if err := node.CheckSubmission(p.req); err != nil {
		return nil, err
	}
	return p, nil
}

// statInput checks that path is a regular file the daemon accepts as one blob and returns
// its size, without reading it.
func statInput(what, path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if !info.Mode().IsRegular() {
		return 0, fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if info.Size() > tasks.MaxBlobSize {
		return 0, fmt.Errorf("%s %s is %d bytes, over the %d byte (256 MiB) limit for one file: split it into several inputs", what, path, info.Size(), tasks.MaxBlobSize)
	}
	return info.Size(), nil
}

// upload streams the module and the larger inputs to the daemon and returns the request
// that names them. A file listed twice is uploaded once.
func (p *submitPlan) upload(ctx context.Context, c *node.Client) (node.SubmitRequest, error) {
	req := p.req
	req.Inputs = append([]node.SubmitInput(nil), p.req.Inputs...)
	done := make(map[string]string) // path -> cid
	put := func(path string) (string, error) {
		if id, ok := done[path]; ok {
			return id, nil
		}
		b, err := c.PutBlobFile(ctx, path)
		if err != nil {
			return "", err
		}
		done[path] = b.CID
		return b.CID, nil
	}
	var err error
	if req.ModuleBlob, err = put(p.module); err != nil {
		return req, err
	}
	for i, path := range p.uploads {
		if req.Inputs[i].Blob, err = put(path); err != nil {
			return req, err
		}
	}
	return req, nil
}
