package node

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"allforone/node/internal/store"
	"allforone/tasks/steward"

	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Trust: every node keeps, per peer, how its results fared against the quorum in the
// batches this node stewarded (the rule, TrustRecord, is in tasks/steward; the cores give
// the verdicts). A run of consecutive valid results (CV) earns a peer single-replica tasks
// under adaptive replication; one wrong result resets the run, and a peer that keeps lying
// is distrusted: no more leases, and it is blocked for a while.

const (
	// liarBlockTime is how long a liar is kept out.
	liarBlockTime = time.Hour
	// distrustedBlockAfter is how long after it is found out a liar is blocked, if it does
	// not ask for leases first (and hear why it gets none).
	distrustedBlockAfter = 10 * time.Second
)

// TrustRecord is one peer's record (the rule is in tasks/steward).
type TrustRecord = steward.TrustRecord

type trustStore struct {
	mu    sync.Mutex
	peers map[peer.ID]*TrustRecord
}

func (n *Node) loadTrust(ctx context.Context) error {
	n.trust.peers = make(map[peer.ID]*TrustRecord)
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.TrustPrefix})
	if err != nil {
		return err
	}
	entries, err := res.Rest()
	if err != nil {
		return err
	}
	for _, e := range entries {
		var r TrustRecord
		if json.Unmarshal(e.Value, &r) != nil {
			continue
		}
		if id, err := peer.Decode(r.PeerID); err == nil {
			n.trust.peers[id] = &r
		}
	}
	return nil
}

// consecutive is the tasks.Trust of this node.
func (n *Node) consecutive(p peer.ID) int {
	n.trust.mu.Lock()
	defer n.trust.mu.Unlock()
	if r := n.trust.peers[p]; r != nil {
		return r.Consecutive
	}
	return 0
}

// distrusted reports whether this node holds p for a liar.
func (n *Node) distrusted(p peer.ID) bool {
	n.trust.mu.Lock()
	defer n.trust.mu.Unlock()
	r := n.trust.peers[p]
	return r != nil && r.Distrusted()
}

// blockLater blocks a liar after d (see caughtLying).
func (n *Node) blockLater(p peer.ID, d time.Duration) {
	n.goLoop("block", func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
			n.Block(p, liarBlockTime, "wrong results")
		}
	})
}

// refusal says why this node, as a steward, gives p no leases ("" if it does): the text
// goes to p's operator through `allforone why`.
func (n *Node) refusal(p peer.ID) string {
	n.trust.mu.Lock()
	defer n.trust.mu.Unlock()
	if r := n.trust.peers[p]; r != nil {
		return r.Refusal(shortID(n.id))
	}
	return ""
}

// nodeTrust is this node's trust records as the steward cores read them.
type nodeTrust struct{ n *Node }

func (t nodeTrust) Consecutive(p peer.ID) int { return t.n.consecutive(p) }
func (t nodeTrust) Refusal(p peer.ID) string  { return t.n.refusal(p) }

// TrustRecords lists this node's trust records.
func (n *Node) TrustRecords() []TrustRecord {
	n.trust.mu.Lock()
	defer n.trust.mu.Unlock()
	out := make([]TrustRecord, 0, len(n.trust.peers))
	for _, r := range n.trust.peers {
		out = append(out, *r)
	}
	return out
}

// applyVerdicts updates the trust records from a steward core's verdicts (executors whose
// results agreed with an accepted output gain, the others are reset) and persists them. It
// returns the peers that lied.
func (n *Node) applyVerdicts(ctx context.Context, vs []steward.Verdict) (liars []peer.ID) {
	now := time.Now()
	n.trust.mu.Lock()
	changed := make(map[peer.ID]TrustRecord)
	for _, v := range vs {
		rec := n.trust.peers[v.Peer]
		if rec == nil {
			rec = &TrustRecord{PeerID: v.Peer.String()}
			n.trust.peers[v.Peer] = rec
		}
		if rec.Apply(v, now) {
			liars = append(liars, v.Peer)
		}
		changed[v.Peer] = *rec
	}
	n.trust.mu.Unlock()
	for _, rec := range changed {
		b, _ := json.Marshal(rec)
		if err := n.ds.Put(ctx, store.TrustKey(rec.PeerID), b); err != nil {
			n.logs.trust.Warn("persist trust record", "peer", rec.PeerID, "err", err)
		}
	}
	return liars
}

// caughtLying handles peers whose result disagreed with an accepted one: the tasks they ran
// alone are checked again in every batch this node is primary of (the cores decide), and a
// peer that keeps lying is cut off.
func (n *Node) caughtLying(liars []peer.ID) {
	if len(liars) == 0 {
		return
	}
	liars = slices.Compact(slices.Sorted(slices.Values(liars)))
	n.goLoop("reverify", func(context.Context) {
		for _, b := range n.listBatches() {
			if l := n.stewardOf(b); l != nil {
				for _, p := range liars {
					l.post(steward.Reverify{Peer: p})
				}
			}
		}
	})
	for _, p := range liars {
		if n.distrusted(p) {
			n.logs.trust.Warn("peer distrusted: its results keep disagreeing with the quorum", "peer", p.String())
			// Its next lease request hears why (LeaseGrant.refused) before the block; one
			// that does not ask is cut off a little later.
			n.blockLater(p, distrustedBlockAfter)
		}
	}
}
