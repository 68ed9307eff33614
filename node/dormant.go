package node

import (
	"context"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"allforone/node/internal/store"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/placement"
)

// Dormant stewards. A finished batch's steward state changes only when its holders do, yet
// loading it cost a restarting node more than anything else it did (decoding every task
// state and its signed records: a third of a soak daemon's start with 170 finished
// batches). So once a batch is finished, every accepted result has K holders on record and
// no single result waits for its recheck (mayDoze), its steward writes the digest of the
// state (one hash per task, protocol/README.md section 10.13) as the value of the batch's
// steward marker, in the same datastore batch as the task states.
//
// At start such a batch stays on disk, dormant: it counts as stewarded and finished, and it
// is loaded (woken) only when something needs its state: a status or results query, a
// pull, a copy, a completion, a digest that differs from the one on disk, a liar found (on
// the batches this node is primary of), a steward gone past the grace where this node is
// primary (so the member taking its place gets the state). A lease request gets "done"
// without waking it, and the digest of a returning primary that matches the one on disk is
// answered without loading anything. The holders' repair loops keep K copies of every
// result meanwhile (repair.go), as they do for every batch. The outputs a dormant state
// names are not held back from the garbage collector: its results are on their holders,
// whom the state's stores name as sources (steward.StoreResult.Hints) once it is awake.

// finishedDigest is the digest of a finished state, as stored in its steward marker.
func finishedDigest(st *tasks.BatchState) []byte {
	ts, hs := st.TaskHashes()
	d := &pb.StateDigest{Hashes: hs}
	for _, t := range ts {
		d.Tasks = append(d.Tasks, uint32(t))
	}
	raw, _ := proto.Marshal(d) // a message of two packed lists cannot fail to marshal
	return raw
}

// dormancyMarker says what b's steward marker should hold after this round, and whether to
// write (write): the digest of a state that may go dormant, or a plain marker again (empty)
// over one that no longer may (tasks reopened by a recheck); nil leaves the marker as it
// is. persisting says states are written this round: the marker goes with them. Runs in
// the loop goroutine.
func (l *stewardLoop) dormancyMarker(persisting bool) (marker []byte, write bool) {
	st := l.core.State()
	if !persisting && (l.digest || !l.core.Done() || l.checked == st.Gen()) {
		return nil, false
	}
	l.checked = st.Gen()
	switch {
	case !l.failed && mayDoze(st, int(max(l.b.m.Replication, 1))):
		marker = finishedDigest(st)
	case l.marked:
		marker = []byte{}
	}
	return marker, persisting || marker != nil
}

// mayDoze reports whether a state may stay on disk only: every task decided, every accepted
// result with K holders on record, and none a single result not rechecked (only the
// primary's tick places those: the holders do not spread them).
func mayDoze(st *tasks.BatchState, k int) bool {
	if !st.Done() {
		return false
	}
	for i := range st.NumTasks() {
		if t := st.Task(i); t.Single && !t.Reverified {
			if _, ok := t.Accepted(); ok {
				return false
			}
		}
	}
	onRecord := func(peer.ID) tasks.HolderState { return tasks.HolderLive }
	return len(st.UnderReplicated(k, onRecord)) == 0
}

// storedDigest reads the digest in b's steward marker; nil if there is none, or it does not
// decode or list every task of b once, in order.
func storedDigest(raw []byte, b *batch) *pb.StateDigest {
	var d pb.StateDigest
	// A finished state has a state of every task: a digest lists them all (and a plain
	// marker, empty, is none).
	if len(raw) == 0 || proto.Unmarshal(raw, &d) != nil || len(d.Tasks) != len(d.Hashes) || len(d.Tasks) != b.m.NumTasks() {
		return nil
	}
	for i, t := range d.Tasks {
		if int(t) >= b.m.NumTasks() || i > 0 && t <= d.Tasks[i-1] {
			return nil
		}
	}
	return &d
}

// validDigest reports whether raw is a digest of b's finished state: a marker that holds
// anything else is read as no digest (the state is loaded, and its digest written again).
func validDigest(raw []byte, b *batch) bool { return storedDigest(raw, b) != nil }

// wake loads b's dormant steward state and starts its loop. It returns the loop that runs,
// or nil (no error) when this node keeps no steward state of b. A state it cannot read is
// logged here (the store's health check reports a corrupt datastore), so callers that can
// do without the state just go on.
func (n *Node) wake(ctx context.Context, b *batch, reason string) (*stewardLoop, error) {
	dormant := b.dormant.Load() // before the loop: below, the loop is stored before dormant clears
	if l := b.steward.Load(); l != nil || !dormant {
		return l, nil
	}
	b.wakeMu.Lock()
	defer b.wakeMu.Unlock()
	if l := b.steward.Load(); l != nil {
		return l, nil
	}
	st, err := n.readStewardState(ctx, b)
	if err != nil {
		n.logs.steward.Warn("cannot load the finished batch's steward state: it stays on disk", "batch", b.id.String(), "reason", reason, "err", err)
		return nil, err
	}
	if st == nil { // the marker went away: nothing to wake
		b.dormant.Store(false)
		return nil, nil
	}
	l := n.startSteward(b, st, true, true) // its marker holds the digest of what was read
	b.dormant.Store(false)
	n.metrics.StewardWakes.WithLabelValues(reason).Inc()
	n.logs.steward.Debug("dormant steward state loaded", "batch", b.id.String(), "reason", reason)
	return l, nil
}

// stewardHere reports whether this node keeps a steward state of b, loaded or dormant.
func (n *Node) stewardHere(b *batch) bool {
	dormant := b.dormant.Load()
	return b.steward.Load() != nil || dormant
}

// dormantDigestMatches reports whether b is dormant here and d is the digest on disk, so a
// returning primary's question is answered without loading the state.
func (n *Node) dormantDigestMatches(ctx context.Context, b *batch, d *pb.StateDigest) bool {
	if b.steward.Load() != nil || !b.dormant.Load() {
		return false
	}
	raw, err := n.ds.Get(ctx, store.StewardMarker(b.id))
	if err != nil {
		return false
	}
	mine := storedDigest(raw, b)
	return mine != nil && slices.Equal(mine.Tasks, d.GetTasks()) && slices.Equal(mine.Hashes, d.GetHashes())
}

// dormantLease answers a lease request for a dormant batch: every task is decided.
func dormantLease() *pb.StewardResponse {
	return &pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: &pb.LeaseGrant{Done: true}}}
}

// wakePrimaries loads the dormant steward states of the batches whose primary this node
// is (a liar found: their results are checked again, by the primary).
func (n *Node) wakePrimaries(ctx context.Context, reason string) {
	for _, b := range n.listBatches() {
		if !b.dormant.Load() || n.stewardsOf(b)[0] != n.id {
			continue
		}
		n.wake(ctx, b, reason) // an error is logged there
	}
}

// wakeForLostStewards loads the dormant states of the batches whose primary this node is
// and one of whose stewards has been gone past the grace, so the state reaches the member
// that took its place (a digest, then what it lacks). A steward that comes back within
// the grace still has its copy. Called by each repair round with its view.
func (n *Node) wakeForLostStewards(ctx context.Context, v *placement.View) {
	for _, b := range n.listBatches() {
		if !b.dormant.Load() {
			continue
		}
		k := n.stewardCount(b)
		if v.Primary(b.id, k) != n.id {
			continue
		}
		for _, s := range v.KnownClosest(b.id, k) {
			if s != n.id && v.State(s) == tasks.HolderGone {
				n.wake(ctx, b, "members") // an error is logged there
				break
			}
		}
	}
}
