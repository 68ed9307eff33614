package node

import (
	"context"
	"fmt"

	"allforone/node/internal/store"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"

	"github.com/ipfs/go-datastore/query"
	"google.golang.org/protobuf/proto"
)

// saveTaskStates persists the given tasks' states in one datastore batch.
func (n *Node) saveTaskStates(ctx context.Context, b *batch, states []*pb.TaskState) error {
	wb, err := n.ds.Batch(ctx)
	if err != nil {
		return err
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

// loadStewardState restores b's steward state, if this node kept one.
func (n *Node) loadStewardState(ctx context.Context, b *batch) error {
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.StewardTasksPrefix(b.id)})
	if err != nil {
		return err
	}
	entries, err := res.Rest()
	if err != nil {
		return err
	}
	// A steward whose state is empty still has a marker entry (task -1 never exists), so
	// restore it even with no tasks touched yet.
	if len(entries) == 0 {
		if ok, _ := n.ds.Has(ctx, store.StewardMarker(b.id)); !ok {
			return nil
		}
	}
	st := n.newBatchState(b)
	for _, e := range entries {
		var p pb.TaskState
		if err := proto.Unmarshal(e.Value, &p); err != nil {
			return fmt.Errorf("steward state %s is corrupt: %w", e.Key, err)
		}
		i, t, err := st.TaskStateFromStore(&p)
		if err != nil {
			return fmt.Errorf("steward state %s: %w", e.Key, err)
		}
		for j := range t.Results {
			n.verified.Remember(&t.Results[j]) // checked before it was stored
		}
		st.Merge(i, t)
	}
	n.startSteward(b, st)
	return nil
}

// becomeSteward makes this node a steward of b (persisting the role) unless it is one, and
// returns b's steward loop.
func (n *Node) becomeSteward(ctx context.Context, b *batch) (*stewardLoop, error) {
	if l := b.steward.Load(); l != nil {
		return l, nil
	}
	if err := n.ds.Put(ctx, store.StewardMarker(b.id), nil); err != nil {
		return nil, fmt.Errorf("persist the steward role of %s: %w", b.id, err)
	}
	return n.startSteward(b, n.newBatchState(b)), nil
}

// startSteward starts b's steward loop with state st, unless one runs already; it returns
// the loop that runs.
func (n *Node) startSteward(b *batch, st *tasks.BatchState) *stewardLoop {
	b.mu.Lock() // only to make one loop: the loop owns the state
	if l := b.steward.Load(); l != nil {
		b.mu.Unlock()
		return l
	}
	core := steward.New(steward.Config{Self: n.id, State: st, View: n.liveView(), LeaseDuration: leaseDuration(b.m),
		MaxPerGrant: maxLeasesPerGrant, Trust: n.trust, SelfMemoryMiB: n.cfg.MaxTaskMemoryMB})
	l := newStewardLoop(n, b, core)
	b.steward.Store(l)
	b.mu.Unlock()
	l.start()
	return l
}
