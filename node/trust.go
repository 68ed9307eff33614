package node

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Trust: every node keeps, per peer, how its results fared against the quorum in the
// batches this node stewarded. A run of consecutive valid results (CV) earns a peer
// single-replica tasks under adaptive replication; one wrong result resets the run, and a
// peer that keeps lying is distrusted: no more leases, and it is blocked for a while.

const (
	trustPrefix = "/trust/"
	// distrustAfter wrong results, when they are over a tenth of a peer's record, make it
	// a liar.
	distrustAfter = 2
	// liarBlockTime is how long a liar is kept out.
	liarBlockTime = time.Hour
)

// TrustRecord is one peer's record.
type TrustRecord struct {
	PeerID      string    `json:"peer_id"`
	Agreed      int       `json:"agreed"`      // results equal to the accepted output
	Disagreed   int       `json:"disagreed"`   // successful results that differed from it
	Consecutive int       `json:"consecutive"` // valid results since the last wrong one (BOINC's CV)
	LastWrong   time.Time `json:"last_wrong,omitempty"`
}

// Distrusted reports whether the record marks a liar.
func (r TrustRecord) Distrusted() bool {
	return r.Disagreed >= distrustAfter && r.Disagreed*10 > r.Agreed
}

type trustStore struct {
	mu    sync.Mutex
	peers map[peer.ID]*TrustRecord
}

func (n *Node) loadTrust(ctx context.Context) error {
	n.trust.peers = make(map[peer.ID]*TrustRecord)
	res, err := n.ds.Query(ctx, query.Query{Prefix: trustPrefix})
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
	r := n.trust.peers[p]
	if r == nil || !r.Distrusted() {
		return ""
	}
	return fmt.Sprintf("steward %s saw %d of this node's results disagree with the quorum (and %d agree)",
		shortID(n.id), r.Disagreed, r.Agreed)
}

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

// judge updates the trust records from a task that was just accepted: agreeing executors
// gain, disagreeing ones are reset. It returns the peers that lied.
func (n *Node) judge(ctx context.Context, results []tasks.ResultRecord, out cid.Cid) (liars []peer.ID) {
	now := time.Now()
	n.trust.mu.Lock()
	var changed []TrustRecord
	for _, r := range results {
		if !r.OK() {
			continue // a failed execution is not a lie (a slow machine times out)
		}
		rec := n.trust.peers[r.Executor]
		if rec == nil {
			rec = &TrustRecord{PeerID: r.Executor.String()}
			n.trust.peers[r.Executor] = rec
		}
		if r.Output.Equals(out) {
			rec.Agreed++
			rec.Consecutive++
		} else {
			rec.Disagreed++
			rec.Consecutive = 0
			rec.LastWrong = now
			liars = append(liars, r.Executor)
		}
		changed = append(changed, *rec)
	}
	n.trust.mu.Unlock()
	for _, rec := range changed {
		b, _ := json.Marshal(rec)
		if err := n.ds.Put(ctx, datastore.NewKey(trustPrefix+rec.PeerID), b); err != nil {
			n.log.Warn("persist trust record", "peer", rec.PeerID, "err", err)
		}
	}
	return liars
}

// caughtLying handles peers whose result disagreed with an accepted one: tasks they ran
// alone are checked again, and a peer that keeps lying is cut off.
func (n *Node) caughtLying(ctx context.Context, liars []peer.ID) {
	for _, p := range liars {
		for _, b := range n.listBatches() {
			b.mu.Lock()
			var reopened []int
			if b.st != nil && b.primary {
				reopened = b.st.Reverify(p)
			}
			b.mu.Unlock()
			if len(reopened) > 0 {
				n.log.Warn("a trusted peer lied: tasks it ran alone are checked again",
					"peer", shortID(p), "batch", b.id.String(), "tasks", len(reopened))
				n.kickBatch(b)
			}
		}
		if n.distrusted(p) {
			n.log.Warn("peer distrusted: its results keep disagreeing with the quorum", "peer", p.String())
			// Its next lease request hears why (LeaseGrant.refused) before the block;
			// one that does not ask is cut off a little later.
			n.blockLater(p, 10*time.Second)
		}
	}
}

// judgeTasks updates trust from b's newly accepted tasks and deals with the liars.
func (n *Node) judgeTasks(ctx context.Context, b *batch, accepted []int) {
	var liars []peer.ID
	for _, i := range accepted {
		b.mu.Lock()
		t := b.st.Task(i)
		results := slices.Clone(t.Results)
		out, ok := t.Accepted()
		b.mu.Unlock()
		if ok {
			liars = append(liars, n.judge(ctx, results, out)...)
		}
	}
	if len(liars) > 0 {
		n.caughtLying(ctx, liars)
	}
}
