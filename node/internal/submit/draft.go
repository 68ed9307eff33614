// Package submit checks a submission and builds its unsigned manifest (Build), with the
// blobs the request carries and the output names it gives, storing nothing: the node
// stores what a Draft holds once the whole manifest is known good.
package submit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"allforone/node/internal/apitypes"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
)

// ErrBad means a submission was refused for what it contains.
var ErrBad = errors.New("bad submission")

// maxDeadline bounds a batch's deadline after its creation.
const maxDeadline = 365 * 24 * time.Hour

// Draft is a submission checked and built, with nothing stored yet.
type Draft struct {
	M       *tasks.Manifest // unsigned
	Pending []PendingBlob   // bytes from the request, stored once the manifest is known good
	Names   apitypes.OutputNames
}

// PendingBlob is a blob whose bytes came in the request.
type PendingBlob struct {
	CID  cid.Cid
	Data []byte
}

// Check checks everything in req that can be checked without its blobs — the
// task count (by arithmetic), limits, R and K, names, inline sizes — as Submit will, so a
// client can refuse a bad batch before it uploads anything. Blob references must be
// well-formed content IDs but need not be stored anywhere yet.
func Check(req apitypes.SubmitRequest) error {
	_, err := Build(req, "check", time.Now(), func(cid.Cid) (uint64, error) { return 1, nil })
	return err
}

// Build builds the unsigned manifest of req for swarm, with blobSize giving the size of
// a blob the request names by content ID (an error wrapping tasks.ErrBlobNotFound when it
// is not stored). Counts and sizes are checked before anything per
// task is built, and nothing is stored: what Submit stores comes after the whole manifest is
// known good. Errors wrap ErrBad.
func Build(req apitypes.SubmitRequest, swarm string, now time.Time, blobSize func(cid.Cid) (uint64, error)) (*Draft, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBad, fmt.Sprintf(format, args...))
	}
	if len(req.Inputs) == 0 {
		return nil, bad("no inputs: add at least one (data, a blob or a range)")
	}
	var total int64
	for i, in := range req.Inputs {
		set := 0
		for _, ok := range []bool{len(in.Data) > 0, in.Blob != "", in.Range != nil} {
			if ok {
				set++
			}
		}
		if set > 1 {
			return nil, bad("input %d: set only one of data, blob and range", i)
		}
		n := int64(1)
		if in.Range != nil {
			if err := in.Range.Check(); err != nil {
				return nil, bad("input %d: %v", i, err)
			}
			n = in.Range.Count()
		}
		total = tasks.AddTasks(total, n)
	}
	if err := tasks.CheckTaskCount(total); err != nil {
		return nil, bad("%v", err)
	}

	d := &Draft{Names: apitypes.OutputNames{Ext: req.OutputExt, Inputs: make([]apitypes.OutputName, 0, len(req.Inputs))}}
	blobRef := func(what, s string) (tasks.BlobRef, error) {
		c, err := cid.Decode(s)
		if err == nil {
			err = tasks.CheckContentID(c)
		}
		if err != nil {
			return tasks.BlobRef{}, bad("%s: %q is not a blob ID (%v): use the cid that POST /api/v1/blobs answered", what, s, err)
		}
		size, err := blobSize(c)
		if errors.Is(err, tasks.ErrBlobNotFound) {
			return tasks.BlobRef{}, bad("%s: blob %s is not stored on this node: upload it with POST /api/v1/blobs first", what, c)
		}
		if err != nil { // the store failed, not the request
			return tasks.BlobRef{}, fmt.Errorf("%s: %w", what, err)
		}
		return tasks.BlobRef{CID: c, Size: size}, nil
	}
	stored := func(data []byte) tasks.BlobRef {
		c := tasks.ContentID(data)
		d.Pending = append(d.Pending, PendingBlob{CID: c, Data: data})
		return tasks.BlobRef{CID: c, Size: uint64(len(data))}
	}

	var module tasks.BlobRef
	switch {
	case len(req.Module) > 0 && req.ModuleBlob != "":
		return nil, bad("set module or module_blob, not both")
	case req.ModuleBlob != "":
		ref, err := blobRef("module_blob", req.ModuleBlob)
		if err != nil {
			return nil, err
		}
		module = ref
	case len(req.Module) > tasks.MaxBlobSize:
		return nil, bad("module is %d bytes: %v", len(req.Module), tasks.ErrBlobTooLarge)
	case len(req.Module) > 0:
		module = stored(req.Module)
	default:
		return nil, bad("no module: send it as module (base64) or upload it and name it as module_blob")
	}

	// Durations in numbers the JSON may make too large for a time.Duration.
	if req.DeadlineSec > uint64(maxDeadline/time.Second) {
		return nil, bad("deadline_seconds %d: at most %d (a year)", req.DeadlineSec, uint64(maxDeadline/time.Second))
	}
	if req.TimeoutMS > uint64(tasks.MaxTimeout/time.Millisecond) {
		return nil, bad("timeout_ms %d: at most %d (24 hours)", req.TimeoutMS, uint64(tasks.MaxTimeout/time.Millisecond))
	}
	deadline := time.Duration(req.DeadlineSec) * time.Second
	if deadline == 0 {
		deadline = tasks.DefaultBatchDeadline
	}
	m := &tasks.Manifest{
		Version:     tasks.ManifestVersion,
		Swarm:       swarm,
		Name:        req.Name,
		Module:      module,
		Args:        req.Args,
		Env:         req.Env,
		Limits:      tasks.Limits{MemoryPages: req.MemoryPages, Timeout: time.Duration(req.TimeoutMS) * time.Millisecond, MaxOutputBytes: req.MaxOutputBytes},
		Redundancy:  req.Redundancy,
		Replication: req.Replication,
		MaxReplicas: req.MaxReplicas,
		CreatedAt:   time.UnixMilli(now.UnixMilli()),
		Deadline:    time.UnixMilli(now.Add(deadline).UnixMilli()),
		Nonce:       make([]byte, 16),
		Inputs:      make([]tasks.Input, 0, len(req.Inputs)),
	}
	m.AdaptiveReplication, m.MinRedundancy = req.Adaptive, req.MinRedundancy
	if m.MaxReplicas == 0 {
		m.MaxReplicas = m.Redundancy + 2
	}
	rand.Read(m.Nonce)
	for i, in := range req.Inputs {
		name := apitypes.OutputName{Name: in.Name, Tasks: 1}
		digits := 0
		switch {
		case in.Range != nil:
			m.Inputs = append(m.Inputs, tasks.RangeInput(*in.Range))
			name.Range, name.Start, name.Tasks = true, in.Range.Start, in.Range.Count()
			digits = 20
		case in.Blob != "":
			ref, err := blobRef(fmt.Sprintf("input %d", i), in.Blob)
			if err != nil {
				return nil, err
			}
			m.Inputs = append(m.Inputs, tasks.BlobInput(ref))
		case len(in.Data) <= tasks.MaxInlineInput:
			m.Inputs = append(m.Inputs, tasks.InlineInput(in.Data))
		case len(in.Data) > tasks.MaxBlobSize:
			return nil, bad("input %d is %d bytes: %v", i, len(in.Data), tasks.ErrBlobTooLarge)
		default:
			m.Inputs = append(m.Inputs, tasks.BlobInput(stored(in.Data)))
		}
		if !name.Range && name.Name == "" {
			name.Name = fmt.Sprintf("%06d", i)
		}
		if err := checkOutputName(fmt.Sprintf("input %d: name", i), name.Name, req.OutputExt, digits); err != nil {
			return nil, bad("%v", err)
		}
		d.Names.Inputs = append(d.Names.Inputs, name)
	}
	if err := m.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	d.M = m
	return d, nil
}

// maxOutputName bounds an output file name (a name rule plus the extension), in bytes:
// most file systems allow 255.
const maxOutputName = 255

// checkOutputName refuses a name rule that cannot be a file name.
func checkOutputName(what, name, ext string, digits int) error {
	switch {
	case strings.ContainsAny(name+ext, "/\\\x00"):
		return fmt.Errorf("%s %q: an output name must not contain a path separator or NUL", what, name+ext)
	case len(name)+len(ext)+digits > maxOutputName:
		return fmt.Errorf("%s %q: output names are at most %d bytes with the extension", what, name+ext, maxOutputName)
	}
	return nil
}
