package node

import (
	"context"
	"fmt"

	"allforone/protocol/pb"
	"allforone/tasks"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"google.golang.org/protobuf/proto"
)

func stewardKey(b *batch, task int) datastore.Key {
	return datastore.NewKey(fmt.Sprintf("%s%s/%08d", stewardPrefix, b.id, task))
}

// saveTaskStates persists the given tasks' states in one datastore batch. The caller holds
// b.mu (the encoding reads the state).
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
		if err := wb.Put(ctx, stewardKey(b, int(s.Task)), raw); err != nil {
			return err
		}
	}
	return wb.Commit(ctx)
}

// loadStewardState restores b's steward state, if this node kept one.
func (n *Node) loadStewardState(ctx context.Context, b *batch) error {
	res, err := n.ds.Query(ctx, query.Query{Prefix: stewardPrefix + b.id.String() + "/"})
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
		if ok, _ := n.ds.Has(ctx, stewardMarker(b)); !ok {
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
		st.Merge(i, t)
	}
	b.mu.Lock()
	b.st = st
	b.mu.Unlock()
	n.startReplication(b)
	return nil
}

func stewardMarker(b *batch) datastore.Key {
	return datastore.NewKey("/steward-of/" + b.id.String())
}

// becomeSteward gives b an empty steward state (persisting the role) unless it has one.
// It returns the state.
func (n *Node) becomeSteward(ctx context.Context, b *batch) (*tasks.BatchState, error) {
	b.mu.Lock()
	if b.st != nil {
		st := b.st
		b.mu.Unlock()
		return st, nil
	}
	b.mu.Unlock()
	if err := n.ds.Put(ctx, stewardMarker(b), nil); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.st == nil {
		b.st = n.newBatchState(b)
	}
	st := b.st
	b.mu.Unlock()
	n.startReplication(b)
	return st, nil
}
