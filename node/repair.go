package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/placement"
)

// repairLoop keeps K copies of every result this node holds: it checks the K closest live
// peers of each held task and gives a copy to those that lack it. It runs periodically and
// soon after a peer leaves.
func (n *Node) repairLoop(ctx context.Context) {
	interval := time.Duration(n.cfg.RepairInterval)
	t := time.NewTicker(interval)
	defer t.Stop()
	rs := newRepairState()
	graceTimer := time.NewTimer(time.Hour)
	graceTimer.Stop()
	defer graceTimer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.peerLeft:
			rs.left(p)
			if grace := time.Duration(n.cfg.RepairGrace); grace > 0 {
				// Its results are copied elsewhere only if it stays away.
				graceTimer.Reset(grace + 100*time.Millisecond)
				continue
			}
			// Let a burst of departures settle into one round.
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		case <-graceTimer.C:
		case <-t.C:
		}
		// A peer that left may be back already: it restarted, perhaps with a datastore that
		// lost data. Its store's incarnation tells (peerLeft may have missed it: that signal
		// is dropped while one is pending).
		for _, p := range n.gone.take() {
			rs.left(p)
		}
		n.repairOnce(ctx, rs)
	}
}

// departures are the peers that left since the repair loop last looked.
type departures struct {
	mu sync.Mutex
	m  map[peer.ID]struct{}
}

func (d *departures) add(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = make(map[peer.ID]struct{})
	}
	d.m[p] = struct{}{}
}

func (d *departures) take() []peer.ID {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]peer.ID, 0, len(d.m))
	for p := range d.m {
		out = append(out, p)
	}
	clear(d.m)
	return out
}

// repairFullEvery forces a full repair round now and then even when nothing seems to have
// changed (a peer may have lost a copy without leaving).
const repairFullEvery = 30

// repairState is what the repair loop remembers between rounds.
type repairState struct {
	confirmed map[peer.ID]map[heldKey]bool // what each peer was confirmed to hold
	inc       map[peer.ID]uint64           // the store incarnation they were confirmed under (0: not told)
	recheck   map[peer.ID]bool             // left since: its incarnation is asked before they count again
	members   string                       // the holder candidates of the last round
	held      uint64                       // heldSet.gen at the last round
	clean     bool                         // the last round found every copy confirmed
	skipped   int
}

// heldKey names a held result.
type heldKey struct {
	batch string // cid.KeyString
	task  int
}

func newRepairState() *repairState {
	return &repairState{confirmed: make(map[peer.ID]map[heldKey]bool), inc: make(map[peer.ID]uint64),
		recheck: make(map[peer.ID]bool)}
}

// has reports whether p is confirmed to hold k and may be counted on for it now.
func (rs *repairState) has(p peer.ID, k heldKey) bool { return rs.confirmed[p][k] && !rs.recheck[p] }

// confirm records that p, answering under store incarnation inc, holds tasks of batch. A
// changed incarnation voids what p was confirmed to hold before.
func (rs *repairState) confirm(p peer.ID, inc uint64, batch string, tasks []int) {
	if old, ok := rs.inc[p]; ok && old != inc {
		rs.forget(p)
	}
	rs.inc[p] = inc
	if rs.confirmed[p] == nil {
		rs.confirmed[p] = make(map[heldKey]bool)
	}
	for _, t := range tasks {
		rs.confirmed[p][heldKey{batch, t}] = true
	}
}

// left notes that p left: what it was confirmed to hold counts again once p is back under
// the same store incarnation (recheck), and is forgotten when p never told one.
func (rs *repairState) left(p peer.ID) {
	if _, ok := rs.confirmed[p]; !ok {
		return
	}
	rs.clean = false
	if rs.inc[p] == 0 {
		rs.forget(p)
		return
	}
	rs.recheck[p] = true
}

// forget drops what p was confirmed to hold.
func (rs *repairState) forget(p peer.ID) {
	if _, ok := rs.confirmed[p]; ok {
		rs.clean = false
	}
	delete(rs.confirmed, p)
	delete(rs.inc, p)
	delete(rs.recheck, p)
}

// recheck asks the peers that left and are back for their store incarnation (HaveResults
// with no tasks): one small request each instead of asking again for every result they
// were confirmed to hold. Those back under another incarnation, or not answering, are
// forgotten; those gone past the grace too.
func (n *Node) recheck(ctx context.Context, rs *repairState, v *placement.View) {
	for p := range rs.confirmed {
		if v.State(p) == tasks.HolderGone {
			rs.forget(p)
		}
	}
	var probe []byte // any batch ID: the answer's incarnation is the node's
	for _, b := range n.listBatches() {
		probe = b.id.Bytes()
		break
	}
	for p := range rs.recheck {
		if !v.Live(p) {
			continue // away within the grace: asked once it is back
		}
		if probe == nil { // no batch known: nothing held to count on p for
			rs.forget(p)
			continue
		}
		resp, err := n.resultCall(ctx, p, &pb.ResultRequest{BatchId: probe, Body: &pb.ResultRequest_Have{Have: &pb.HaveResults{}}})
		if err != nil || resp.GetIncarnation() != rs.inc[p] { // rs.inc of a peer to recheck is not 0 (left)
			rs.forget(p)
			continue
		}
		delete(rs.recheck, p)
	}
}

func (n *Node) repairOnce(ctx context.Context, rs *repairState) {
	// A holder that left moments ago still counts (RepairGrace): it comes back with its
	// data. Copies go to live peers only (pushHeld skips the others).
	v := n.liveView()
	n.wakeForLostStewards(ctx, v) // dormant.go
	n.recheck(ctx, rs, v)
	members, held := v.CandidatesKey(), n.held.gen()
	// A round where nothing changed (the same candidates, the same held results, every
	// copy confirmed last time) would find nothing to do: skip it, and its placement of
	// every held result.
	if rs.clean && members == rs.members && held == rs.held && rs.skipped < repairFullEvery {
		rs.skipped++
		return
	}
	_, needed := n.pushHeld(ctx, rs, v, false)
	rs.members, rs.held, rs.clean, rs.skipped = members, held, needed == 0, 0
}

// pushHeld makes sure that, for every result this node holds, the peers placement names
// hold it too (RepairTargets; HandOffTargets for a graceful stop): it asks each what it
// has and copies what it lacks (repairPeer). The view is taken once per round by the
// caller, not once per result. It returns how many results peers were newly confirmed to
// hold, and how many copies were not confirmed when it began.
func (n *Node) pushHeld(ctx context.Context, rs *repairState, v *placement.View, handOff bool) (made, needed int) {
	for _, b := range n.listBatches() {
		held := n.held.list(b.id)
		if len(held) == 0 {
			continue
		}
		k := int(max(b.m.Replication, 1))
		need := make(map[peer.ID][]int)
		for _, task := range held {
			if n.held.single(b.id, task) {
				continue // the steward places single results: a stale one must not spread
			}
			key := heldKey{b.id.KeyString(), task}
			targets := v.RepairTargets(tasks.TaskID(b.id, task), k)
			if handOff {
				targets = v.HandOffTargets(tasks.TaskID(b.id, task), k)
			}
			for _, h := range targets {
				if rs.has(h, key) {
					continue
				}
				needed++ // one that left within the grace too: it is to be asked when back
				if v.Live(h) {
					need[h] = append(need[h], task)
				}
			}
		}
		for h, ts := range need {
			if ctx.Err() != nil {
				return made, needed
			}
			before := len(rs.confirmed[h])
			n.repairPeer(ctx, b, h, ts, rs)
			made += max(len(rs.confirmed[h])-before, 0)
		}
	}
	return made, needed
}

// repairPeer asks h which of ts it holds and pushes the rest.
func (n *Node) repairPeer(ctx context.Context, b *batch, h peer.ID, ts []int, rs *repairState) {
	q := &pb.ResultRequest{BatchId: b.id.Bytes(), Body: &pb.ResultRequest_Have{Have: &pb.HaveResults{Tasks: toUint32s(ts)}}}
	resp, err := n.resultCall(ctx, h, q)
	if err != nil {
		return
	}
	inc := resp.GetIncarnation()
	mark := func(tasks []int) { rs.confirm(h, inc, b.id.KeyString(), tasks) }
	has := toInts(resp.GetHave())
	mark(has)
	hasSet := make(map[int]bool, len(has))
	for _, t := range has {
		hasSet[t] = true
	}
	var push []*pb.StoredResult
	for _, t := range ts {
		if hasSet[t] {
			continue
		}
		sr, err := n.loadResult(ctx, b.id, t, true)
		if err == nil {
			push = append(push, sr)
		}
	}
	if len(push) == 0 {
		return
	}
	stored, err := n.pushResults(ctx, b, h, push, 0)
	mark(stored)
	if len(stored) > 0 {
		n.logs.results.Info("restored result copies", "batch", b.id.String(), "to", shortID(h), "results", len(stored))
		n.metrics.Repaired.Add(float64(len(stored)))
	}
	if err != nil {
		n.logs.results.Debug("repair", "peer", shortID(h), "err", err)
	}
}

func toUint32s(in []int) []uint32 {
	out := make([]uint32, len(in))
	for i, v := range in {
		out[i] = uint32(v)
	}
	return out
}

// Lost writes: node/internal/durable keeps the sync points (n.durable), counting what the
// node keeps with storeCounts; Start checks them against the datastore, and a start that
// finds data lost fetches again what its peers have (resync, below).

// DataLost returns what the datastore had lost when this node started, or nil.
func (n *Node) DataLost() *DataLoss { return n.durable.Lost() }

// storeCounts counts what the node keeps, from memory. Every entry counted was written to
// the datastore before it was counted.
func (n *Node) storeCounts() StoreCounts {
	var c StoreCounts
	for _, b := range n.listBatches() {
		c.Batches++
		if n.stewardHere(b) {
			c.StewardOf++
		}
	}
	n.held.mu.Lock()
	for _, m := range n.held.tasks {
		c.Results += len(m)
	}
	n.held.mu.Unlock()
	return c
}

// After a loss the node fetches again what its peers hold. It cannot know
// what it lost exactly, so it asks: the running batches from several peers (not one a
// minute as syncLoop does), then, for every batch it is a steward of, the state the other
// stewards keep. The results it held come back from their other holders: a restarted node
// has left and come back, so their repair rounds ask it again what it holds (repair.go).

const (
	// resyncPeers is how many peers a node that lost data asks for the running batches.
	resyncPeers = 3
	// resyncFor bounds how long it keeps looking for peers to ask.
	resyncFor = 10 * time.Minute
)

// resync runs once after a start that found data lost.
func (n *Node) resync(nodeCtx context.Context) {
	ctx, cancel := context.WithTimeout(nodeCtx, resyncFor)
	defer cancel()
	asked := make(map[peer.ID]bool)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		peers := n.host.Network().Peers()
		for _, p := range peers {
			if len(asked) >= resyncPeers {
				break
			}
			if !asked[p] && n.syncFrom(ctx, p) {
				asked[p] = true
			}
		}
		if len(asked) >= min(resyncPeers, max(len(peers), 1)) {
			break
		}
		select {
		case <-ctx.Done():
			if nodeCtx.Err() == nil {
				n.logs.store.Warn("resync after data loss: not enough peers answered", "asked", len(asked), "within", resyncFor)
			}
			return
		case <-t.C:
		}
	}
	pulled := 0
	for _, b := range n.listBatches() {
		stewards := n.stewardsOf(b)
		if !slices.Contains(stewards, n.id) || len(stewards) < 2 {
			continue
		}
		l, err := n.becomeSteward(ctx, b)
		if err != nil {
			n.logs.store.Warn("resync steward state", "batch", b.id.String(), "err", err)
			continue
		}
		others := slices.DeleteFunc(slices.Clone(stewards), func(p peer.ID) bool { return p == n.id })
		n.pullInto(ctx, l, others)
		pulled++
	}
	n.durable.Resynced()
	c := n.storeCounts()
	n.logs.store.Info("resync after data loss done", "peers_asked", len(asked), "steward_states_pulled", pulled,
		"batches", c.Batches, "steward_roles", c.StewardOf, "results", c.Results)
}
