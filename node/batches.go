package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/p2p"
	"allforone/node/internal/store"
	"allforone/protocol"
	"allforone/tasks"
	"allforone/tasks/steward"
)

// A batch as this node knows it. Every node that heard of a batch keeps its manifest; its
// stewards also keep its state, owned by the batch's steward loop (steward_loop.go); its
// result holders keep results (see results.go).
//
// Lock order: Node.batchMu, then batch.mu. batch.mu guards the worker's side of a batch
// (the fields below steward); the steward state has no lock: its loop owns it, and nobody
// waits for a loop while holding batch.mu. No lock is held across network calls.
type batch struct {
	id  cid.Cid
	m   *tasks.Manifest
	raw []byte // the signed canonical manifest

	steward   atomic.Pointer[stewardLoop] // set once, while this node is one of its stewards
	dormant   atomic.Bool                 // a steward of it, its finished state on disk only (dormant.go)
	wakeMu    sync.Mutex                  // one wake at a time
	blobsHere atomic.Bool                 // its module and blob inputs are stored here

	mu          sync.Mutex
	workDone    bool             // a steward said no work is left
	retryAt     time.Time        // do not ask for leases before this
	backoff     time.Duration    // grows while asking for this batch's work keeps failing
	fetching    bool             // a background fetch of the batch's blobs runs
	completions []completion     // finished tasks waiting to go to the steward
	sending     bool             // a completion sender runs
	holding     map[int]struct{} // tasks this node holds leases on, until delivered or returned
	refused     string           // why its steward last refused this node any lease ("" if not)
	refusedAt   time.Time

	// Why the batch cannot progress, as a worker sees it: when to decline it again, and
	// the reason its steward gave last (at waitingLineAt).
	declineAt     time.Time
	waitingLine   string
	waitingLineAt time.Time
	// refusedModule is why this node refuses the batch's module (over the compile
	// budget): it takes none of its tasks. "" if it does not.
	refusedModule string
}

// refuse records that this node refuses b's module, and why.
func (b *batch) refuse(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refusedModule = err.Error()
}

// hold and unhold track the tasks of b this node holds leases on (it tells the steward in
// every lease request, so leases an earlier run of this node held come back at once).
func (b *batch) hold(task int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holding == nil {
		b.holding = make(map[int]struct{})
	}
	b.holding[task] = struct{}{}
}

func (b *batch) unhold(tasks ...int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range tasks {
		delete(b.holding, t)
	}
}

func (n *Node) getBatch(id cid.Cid) *batch {
	n.batchMu.Lock()
	defer n.batchMu.Unlock()
	return n.batches[id.KeyString()]
}

// listBatches returns the known batches.
func (n *Node) listBatches() []*batch {
	n.batchMu.Lock()
	defer n.batchMu.Unlock()
	out := make([]*batch, 0, len(n.batches))
	for _, b := range n.batches {
		out = append(out, b)
	}
	return out
}

// addBatch parses and verifies a signed manifest and registers the batch, persisting the
// manifest. It returns the batch and whether it was new.
func (n *Node) addBatch(ctx context.Context, raw []byte) (*batch, bool, error) {
	m, id, err := tasks.ParseManifest(raw, n.cfg.Swarm)
	if err != nil {
		return nil, false, err
	}
	if b := n.getBatch(id); b != nil {
		return b, false, nil
	}
	if err := n.ds.Put(ctx, store.BatchKey(id), raw); err != nil {
		return nil, false, fmt.Errorf("store manifest: %w", err)
	}
	b := &batch{id: id, m: m, raw: raw}
	n.batchMu.Lock()
	if old := n.batches[id.KeyString()]; old != nil {
		n.batchMu.Unlock()
		return old, false, nil
	}
	n.batches[id.KeyString()] = b
	n.batchMu.Unlock()
	n.logs.batches.Info("batch known", "batch", id.String(), "name", m.Name, "tasks", m.NumTasks(),
		"R", m.Redundancy, "K", m.Replication, "submitter", shortID(m.Submitter))
	n.wakeWorker()
	return b, true, nil
}

// loadBatches restores the known batches and the steward state kept in the datastore.
func (n *Node) loadBatches(ctx context.Context) error {
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.BatchPrefix})
	if err != nil {
		return err
	}
	entries, err := res.Rest()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Key, store.NamesSuffix) {
			continue
		}
		if _, _, err := n.addBatch(ctx, e.Value); err != nil {
			n.logs.batches.Warn("dropping unreadable batch from the datastore", "key", e.Key, "err", err)
			n.ds.Delete(ctx, datastore.NewKey(e.Key))
		}
	}
	for _, b := range n.listBatches() {
		if err := n.loadStewardState(ctx, b); err != nil {
			return fmt.Errorf("batch %s: %w", b.id, err)
		}
	}
	return nil
}

// newBatchState makes an empty steward state with its own random source.
func (n *Node) newBatchState(b *batch) *tasks.BatchState {
	st := tasks.NewBatchState(b.id, b.m, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	st.MaxPerWorker = maxLeasesPerWorker
	st.Verify = n.verified.Verify
	return st
}

// ErrUnknownBatch means this node has not heard of a batch.
var ErrUnknownBatch = errors.New("unknown batch: check the ID, or wait until the announcement reaches this node")

// maxClockSkew bounds how far in the future an announced batch may say it was created.
const maxClockSkew = protocol.MaxClockSkew

// validateAnnouncement is the batch topic's validator: it rejects what is oversized,
// malformed, unsigned or for another swarm (gossipsub counts it against the forwarder), and
// ignores what is stale or was announced before (not forwarded, no penalty).
func (n *Node) validateAnnouncement(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	a, err := protocol.ValidateAnnouncement(msg.Data)
	if err != nil {
		n.logs.batches.Debug("rejected announcement", "from", shortID(from), "err", err)
		return pubsub.ValidationReject
	}
	if author := msg.GetFrom(); !n.allow(author, p2p.LimitAnnouncement) {
		return pubsub.ValidationIgnore // a flood from one author: not forwarded
	}
	m, id, err := tasks.ParseManifest(a.GetManifest(), n.cfg.Swarm)
	if err != nil {
		n.logs.batches.Debug("rejected announcement", "from", shortID(from), "err", err)
		return pubsub.ValidationReject
	}
	now := time.Now()
	if !now.Before(m.Deadline) || m.CreatedAt.After(now.Add(maxClockSkew)) {
		return pubsub.ValidationIgnore // a replay of an old batch, or a clock far off
	}
	// Forward a batch's announcement once: nodes that learned the batch otherwise (its
	// stewards, through Adopt) still pass it on, and a replay of it is dropped.
	n.announcedMu.Lock()
	defer n.announcedMu.Unlock()
	if n.announced[id.KeyString()] {
		return pubsub.ValidationIgnore
	}
	n.announced[id.KeyString()] = true
	return pubsub.ValidationAccept
}

// onAnnouncement registers an announced batch.
func (n *Node) onAnnouncement(m *pubsub.Message) {
	a, err := protocol.ValidateAnnouncement(m.Data)
	if err != nil {
		return
	}
	if _, _, err := n.addBatch(n.ctx, a.GetManifest()); err != nil {
		n.logs.batches.Debug("announcement", "err", err)
	}
}

// Why a batch cannot progress. Its primary steward decides it (tasks/steward: from the
// swarm peers it sees, the workers that decline the batch and the peers it refuses) and
// says so in status and in its lease grants. This file is the worker's side: a node that
// cannot run a batch (a task needs more memory than max_task_memory_mb allows) tells its
// steward so, and a submitter says at once when the batch it submits cannot progress with
// the peers it sees.

// declineInterval is how often a worker tells a batch's steward again that it declines it.
const declineInterval = steward.DeclineInterval

// WaitReason is one reason a batch cannot progress with the peers its steward sees.
type WaitReason = steward.WaitReason

// swarmPeers are this node and the peers connected to it that serve the steward protocol:
// the peers that can take a batch's tasks from this node.
func (n *Node) swarmPeers() []peer.ID {
	out := []peer.ID{n.id}
	sp := protocol.StewardProtocol(n.cfg.Swarm)
	for _, p := range n.host.Network().Peers() {
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, sp); len(ok) == 1 {
			out = append(out, p)
		}
	}
	return out
}

// submitWaiting is why a batch this node submits cannot progress with the peers it sees:
// all it knows of other peers is that they are there (and may run it), of itself whether its
// memory cap allows the batch.
func (n *Node) submitWaiting(m *tasks.Manifest) []WaitReason {
	f := steward.WaitFacts{R: int(m.Redundancy), MaxReplicas: int(max(m.MaxReplicas, m.Redundancy)),
		MemoryMiB: int(m.Limits.MemoryBytes() >> 20), Peers: len(n.swarmPeers())}
	if !n.fitsMemory(m.Limits.MemoryPages) {
		f.Declined, f.MostMiB = 1, n.cfg.MaxTaskMemoryMB
	}
	return steward.DecideWaiting(f)
}

// declineLoop tells the stewards of the batches this node cannot run (a task needs more
// memory than max_task_memory_mb allows) that it declines them, at once and then every
// declineInterval while they run, so their stewards can say why nobody runs them.
func (n *Node) declineLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		now := time.Now()
		for _, b := range n.listBatches() {
			stewardDone := n.stewardDone(b)
			b.mu.Lock()
			due := !b.workDone && now.Before(b.m.Deadline) && !stewardDone &&
				!n.fitsMemory(b.m.Limits.MemoryPages) && !now.Before(b.declineAt)
			if due {
				b.declineAt = now.Add(declineInterval)
			}
			b.mu.Unlock()
			if due && ctx.Err() == nil {
				n.decline(ctx, b)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// decline sends b's steward a lease request for nothing with this node's memory cap.
func (n *Node) decline(ctx context.Context, b *batch) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, g, err := n.requestLeasesWith(ctx, b, 0, false)
	if err != nil {
		n.logs.worker.Debug("decline batch", "batch", b.id.String(), "err", err)
		return
	}
	b.mu.Lock()
	b.waitingLine, b.waitingLineAt = g.GetWaiting(), time.Now()
	if g.GetDone() {
		b.workDone = true
	}
	b.mu.Unlock()
}
