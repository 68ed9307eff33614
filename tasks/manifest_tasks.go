package tasks

import (
	"context"
	"fmt"
	"iter"
	"math"
	"strconv"

	"github.com/ipfs/go-cid"
)

// TaskInput is the input of one task: either a blob to fetch (Blob.CID is defined) or bytes
// already known (inline values and generated range values).
type TaskInput struct {
	Blob BlobRef // the blob holding the input, when IsBlob
	Data []byte  // the input, when !IsBlob
}

// IsBlob reports whether the input must be fetched from a blob store.
func (t TaskInput) IsBlob() bool { return t.Blob.CID.Defined() }

// Task is one task of a batch.
type Task struct {
	Index int       // position in the batch, from 0
	ID    cid.Cid   // TaskID(batch, Index)
	Input TaskInput // what the module reads on stdin
}

// NumTasks is the number of tasks in the batch: one per blob or inline input plus the size
// of each range. A manifest that passed Validate has at most MaxTasks; for one that did
// not, the count saturates instead of overflowing.
func (m *Manifest) NumTasks() int {
	var n int64
	for _, in := range m.Inputs {
		n = AddTasks(n, in.count())
	}
	return int(min(n, math.MaxInt))
}

// Input returns the input of task i (0 <= i < NumTasks()).
func (m *Manifest) Input(i int) (TaskInput, error) {
	if i < 0 {
		return TaskInput{}, fmt.Errorf("task %d: no such task", i)
	}
	rest := int64(i)
	for _, in := range m.Inputs {
		n := in.count()
		if rest < n {
			return in.taskInput(rest), nil
		}
		rest -= n
	}
	return TaskInput{}, fmt.Errorf("task %d: no such task: the batch has %d", i, m.NumTasks())
}

// taskInput is the input of the k-th task that in stands for.
func (in Input) taskInput(k int64) TaskInput {
	switch in.Kind {
	case InputBlob:
		return TaskInput{Blob: in.Blob}
	case InputRange:
		r := in.Range
		b := make([]byte, 0, len(r.Prefix)+20+len(r.Suffix))
		b = append(b, r.Prefix...)
		b = strconv.AppendInt(b, r.Start+k, 10)
		return TaskInput{Data: append(b, r.Suffix...)}
	default:
		return TaskInput{Data: in.Inline}
	}
}

// Tasks yields every task of the batch in order, with task IDs derived from batch (the
// manifest's ID). Inputs are generated as the iteration goes, so a range of a million tasks
// costs no memory up front.
func (m *Manifest) Tasks(batch cid.Cid) iter.Seq[Task] {
	return func(yield func(Task) bool) {
		i := 0
		for _, in := range m.Inputs {
			for k := int64(0); k < in.count(); k++ {
				if !yield(Task{Index: i, ID: TaskID(batch, i), Input: in.taskInput(k)}) {
					return
				}
				i++
			}
		}
	}
}

// BlobGetter is where ResolveInput fetches blob inputs: a *BlobStore, or a network fetcher.
type BlobGetter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// ResolveInput returns the bytes of a task input, fetching a blob input from blobs and
// checking its size against the manifest. A missing blob gives an error wrapping
// ErrBlobNotFound.
func ResolveInput(ctx context.Context, blobs BlobGetter, in TaskInput) ([]byte, error) {
	if !in.IsBlob() {
		return in.Data, nil
	}
	data, err := blobs.Get(ctx, in.Blob.CID)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if uint64(len(data)) != in.Blob.Size {
		return nil, fmt.Errorf("input blob %s is %d bytes, the manifest says %d: %w", in.Blob.CID, len(data), in.Blob.Size, ErrCorrupt)
	}
	return data, nil
}
