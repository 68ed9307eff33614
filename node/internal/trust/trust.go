// Package trust keeps a node's trust records: per peer, how its results fared against the
// quorum in the batches this node stewarded. The rule (TrustRecord, Apply, Refusal) is
// tasks/steward's; this package keeps the records, persists them, and answers the steward
// cores (Records is their steward.Trust). A run of consecutive valid results earns a peer
// single-replica tasks under adaptive replication; one wrong result resets the run, and a
// peer that keeps lying is distrusted: no more leases.
package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/store"
	"allforone/tasks/steward"
)

// Store is the part of the datastore the records live in (a go-datastore MapDatastore is
// its fake).
type Store interface {
	Put(ctx context.Context, key datastore.Key, value []byte) error
	Query(ctx context.Context, q query.Query) (query.Results, error)
}

// Records is this node's trust records. Its methods are safe for concurrent use.
type Records struct {
	ds   Store
	self string // this node, as the refusal text names it
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex
	peers map[peer.ID]*steward.TrustRecord
}

// New returns an empty set of records kept in ds; self names this node in refusals.
func New(ds Store, self string, log *slog.Logger, now func() time.Time) *Records {
	return &Records{ds: ds, self: self, log: log, now: now, peers: make(map[peer.ID]*steward.TrustRecord)}
}

// Load reads the records kept in the datastore; unreadable ones are skipped.
func (r *Records) Load(ctx context.Context) error {
	res, err := r.ds.Query(ctx, query.Query{Prefix: store.TrustPrefix})
	if err != nil {
		return fmt.Errorf("query trust records: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return fmt.Errorf("read trust records: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		var rec steward.TrustRecord
		if json.Unmarshal(e.Value, &rec) != nil {
			continue
		}
		if id, err := peer.Decode(rec.PeerID); err == nil {
			r.peers[id] = &rec
		}
	}
	return nil
}

// Consecutive is p's run of results that agreed with the quorum.
func (r *Records) Consecutive(p peer.ID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec := r.peers[p]; rec != nil {
		return rec.Consecutive
	}
	return 0
}

// Distrusted reports whether this node holds p for a liar.
func (r *Records) Distrusted(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.peers[p]
	return rec != nil && rec.Distrusted()
}

// Refusal says why this node, as a steward, gives p no leases ("" if it does): the text
// goes to p's operator through `allforone why`.
func (r *Records) Refusal(p peer.ID) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec := r.peers[p]; rec != nil {
		return rec.Refusal(r.self)
	}
	return ""
}

// List returns a copy of every record.
func (r *Records) List() []steward.TrustRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]steward.TrustRecord, 0, len(r.peers))
	for _, rec := range r.peers {
		out = append(out, *rec)
	}
	return out
}

// Apply updates the records from a steward core's verdicts (executors whose results agreed
// with an accepted output gain, the others are reset) and persists them. It returns the
// peers that lied.
func (r *Records) Apply(ctx context.Context, vs []steward.Verdict) (liars []peer.ID) {
	now := r.now()
	r.mu.Lock()
	changed := make(map[peer.ID]steward.TrustRecord)
	for _, v := range vs {
		rec := r.peers[v.Peer]
		if rec == nil {
			rec = &steward.TrustRecord{PeerID: v.Peer.String()}
			r.peers[v.Peer] = rec
		}
		if rec.Apply(v, now) {
			liars = append(liars, v.Peer)
		}
		changed[v.Peer] = *rec
	}
	r.mu.Unlock()
	for _, rec := range changed {
		b, _ := json.Marshal(rec)
		if err := r.ds.Put(ctx, store.TrustKey(rec.PeerID), b); err != nil {
			r.log.Warn("persist trust record", "peer", rec.PeerID, "err", err)
		}
	}
	return liars
}
