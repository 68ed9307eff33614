package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"google.golang.org/protobuf/proto"

	"allforone/node/internal/store"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"
)

// A steward's state on disk: its tasks' states, the marker of the role (with the digest of a
// finished state, dormant.go), and the start of its loop.

// saveTaskStates persists the given tasks' states in one datastore batch, with the
// digest of a finished state (dormant.go) when digest is not nil.
func (n *Node) saveTaskStates(ctx context.Context, b *batch, states []*pb.TaskState, digest []byte) error {
	wb, err := n.ds.Batch(ctx)
	if err != nil {
		return err
	}
	if digest != nil {
		if err := wb.Put(ctx, store.StewardMarker(b.id), digest); err != nil {
			return err
		}
	}
	for _, s := range states {
		raw, err := proto.Marshal(s)
		if err != nil {
			return err
		}
		if err := wb.Put(ctx, store.StewardKey(b.id, int(s.Task)), raw); err != nil {
			return err
		}
	}
	return wb.Commit(ctx)
}

// loadStewardState restores b's steward state, if this node kept one: a finished one stays
// on disk (dormant.go) until something needs it.
func (n *Node) loadStewardState(ctx context.Context, b *batch) error {
	marker, err := n.ds.Get(ctx, store.StewardMarker(b.id))
	switch {
	case err == nil && validDigest(marker, b):
		b.dormant.Store(true)
		return nil
	case err != nil && !errors.Is(err, datastore.ErrNotFound):
		return err
	}
	st, err := n.readStewardState(ctx, b)
	if err != nil || st == nil {
		return err
	}
	n.startSteward(b, st, len(marker) > 0, false) // a marker that is no digest of b is cleared or rewritten
	return nil
}

// readStewardState reads b's steward state from the datastore; nil if this node keeps none.
func (n *Node) readStewardState(ctx context.Context, b *batch) (*tasks.BatchState, error) {
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.StewardTasksPrefix(b.id)})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	// A steward whose state is empty still has a marker entry (task -1 never exists), so
	// restore it even with no tasks touched yet.
	if len(entries) == 0 {
		if ok, _ := n.ds.Has(ctx, store.StewardMarker(b.id)); !ok {
			return nil, nil
		}
	}
	st := n.newBatchState(b)
	for _, e := range entries {
		var p pb.TaskState
		if err := proto.Unmarshal(e.Value, &p); err != nil {
			return nil, fmt.Errorf("steward state %s is corrupt: %w", e.Key, err)
		}
		i, t, err := st.TaskStateFromStore(&p)
		if err != nil {
			return nil, fmt.Errorf("steward state %s: %w", e.Key, err)
		}
		for j := range t.Results {
			n.verified.Remember(&t.Results[j]) // checked before it was stored
		}
		st.Merge(i, t)
	}
	return st, nil
}

// becomeSteward makes this node a steward of b (persisting the role) unless it is one, and
// returns b's steward loop.
func (n *Node) becomeSteward(ctx context.Context, b *batch) (*stewardLoop, error) {
	if l, err := n.wake(ctx, b, "role"); l != nil || err != nil {
		return l, err
	}
	if err := n.ds.Put(ctx, store.StewardMarker(b.id), nil); err != nil {
		return nil, fmt.Errorf("persist the steward role of %s: %w", b.id, err)
	}
	return n.startSteward(b, n.newBatchState(b), false, false), nil
}

// startSteward starts b's steward loop with state st, unless one runs already; it returns
// the loop that runs.
//
// marked says b's steward marker holds something (perhaps no digest of st): the loop
// rewrites or clears it (dormant.go); digest says it holds st's digest.
func (n *Node) startSteward(b *batch, st *tasks.BatchState, marked, digest bool) *stewardLoop {
	b.mu.Lock() // only to make one loop: the loop owns the state
	if l := b.steward.Load(); l != nil {
		b.mu.Unlock()
		return l
	}
	var fence *steward.Fence
	var promise steward.Promise
	if n.cfg.PrimaryLeases { // steward_fence.go
		var err error
		if promise, err = n.readPromise(context.Background(), b.id); err != nil {
			n.logs.steward.Error("the steward starts without its primary promise", "batch", b.id.String(), "err", err)
		}
		voters, err := n.readVoters(context.Background(), b.id)
		if err != nil {
			n.logs.steward.Error("the steward starts without its voting set", "batch", b.id.String(), "err", err)
		}
		fence = &steward.Fence{Promise: promise, Voters: voters, AwaitLookup: n.dht != nil}
	}
	core := steward.New(steward.Config{Self: n.id, State: st, View: n.liveView(), LeaseDuration: leaseDuration(b.m),
		MaxPerGrant: maxLeasesPerGrant, Trust: n.trust, SelfMemoryMiB: n.cfg.MaxTaskMemoryMB, Fence: fence})
	l := newStewardLoop(n, b, core)
	l.marked, l.digest, l.promise = marked, digest, promise
	b.steward.Store(l)
	b.mu.Unlock()
	l.start()
	return l
}
