package worker

import (
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Finding batches with open work in O(log N). The primary steward of a batch that has
// tasks nobody holds a lease on keeps an open-work record (batch, primary, how many tasks
// are open) on the DHT servers closest to its bucket's rendezvous key, as a DHT provider
// record is kept: put on the K closest found by an iterative lookup, republished every
// RecordRepublish while work is open, dropped by its holders RecordTTL after the last
// put. A primary with nothing open puts a record with Open 0, which withdraws it.
//
// An idle worker looks up one bucket key (one iterative lookup, O(log N) hops; the closest
// servers of each of the Buckets keys are cached and refreshed when one fails), asks one
// of them for the records, and picks a batch weighted by its open tasks (Pick). Polling
// every batch would cost a worker O(batches) requests per round and put every idle worker
// on every batch's primary; here a worker's search costs one request to a server that
// holds the records of 1/Buckets of the batches, and the servers of the Buckets keys share
// the load of the idle workers. Why provider records and not the gossip topic: pubsub
// carries announcements only (DESIGN.md), and a record that expires by itself cannot
// outlive the primary that put it by more than RecordTTL.

// Open-work record parameters.
const (
	// Buckets is how many rendezvous keys the records are spread over.
	Buckets = 4
	// RecordTTL is how long a holder keeps a record after its last put.
	RecordTTL = 30 * time.Second
	// RecordRepublish is how often a primary with open work puts its record again.
	RecordRepublish = 10 * time.Second
	// MaxRecordsPerKey bounds the records one server keeps for one key (the most open
	// first): a key's servers answer in one message.
	MaxRecordsPerKey = 256
)

// OpenWorkKey is the rendezvous key of one bucket of open-work records in a swarm.
func OpenWorkKey(swarm string, bucket int) cid.Cid {
	return tasks.ContentID([]byte("allforone/open-work/v1\n" + swarm + "\n" + strconv.Itoa(bucket)))
}

// BucketOf is the bucket a batch's record goes to.
func BucketOf(batch cid.Cid) int {
	h := sha256.Sum256(batch.Bytes())
	return int(h[0]) % Buckets
}

// OpenRecord says that a batch has open work and who its primary is.
type OpenRecord struct {
	Batch   cid.Cid
	Primary peer.ID
	// Open is how many tasks nobody holds a lease on (0 withdraws the record).
	Open int
	// Expires is when the holder drops the record (set by the holder: put + RecordTTL).
	Expires time.Time
}

// OpenTable is what one DHT server holds of the open-work records, by key. It is not safe
// for concurrent use.
type OpenTable struct {
	byKey map[string][]OpenRecord
}

// Put stores r under key at now (replacing the batch's earlier record), or drops the
// batch's record when r.Open is 0. It reports whether the table kept r.
func (t *OpenTable) Put(key string, r OpenRecord, now time.Time) bool {
	if t.byKey == nil {
		t.byKey = make(map[string][]OpenRecord)
	}
	recs := t.live(key, now)
	recs = slices.DeleteFunc(recs, func(o OpenRecord) bool { return o.Batch.Equals(r.Batch) })
	kept := false
	if r.Open > 0 {
		r.Expires = now.Add(RecordTTL)
		recs = append(recs, r)
		slices.SortStableFunc(recs, func(a, b OpenRecord) int { return b.Open - a.Open })
		if len(recs) > MaxRecordsPerKey {
			recs = recs[:MaxRecordsPerKey]
		}
		kept = slices.ContainsFunc(recs, func(o OpenRecord) bool { return o.Batch.Equals(r.Batch) })
	}
	if len(recs) == 0 {
		delete(t.byKey, key)
	} else {
		t.byKey[key] = recs
	}
	return kept
}

// Get returns the live records under key at now, the most open first.
func (t *OpenTable) Get(key string, now time.Time) []OpenRecord {
	recs := t.live(key, now)
	if len(recs) == 0 {
		delete(t.byKey, key)
		return nil
	}
	t.byKey[key] = recs
	return slices.Clone(recs)
}

// Len is how many records the table holds (expired ones included until touched).
func (t *OpenTable) Len() int {
	n := 0
	for _, r := range t.byKey {
		n += len(r)
	}
	return n
}

func (t *OpenTable) live(key string, now time.Time) []OpenRecord {
	return slices.DeleteFunc(t.byKey[key], func(r OpenRecord) bool { return !now.Before(r.Expires) })
}

// Pick chooses one record, weighted by its open tasks, skipping those skip says no to
// (batches this worker cannot run or found done); false when none is left.
func Pick(recs []OpenRecord, rng *rand.Rand, skip func(OpenRecord) bool) (OpenRecord, bool) {
	total := 0
	for _, r := range recs {
		if r.Open > 0 && (skip == nil || !skip(r)) {
			total += r.Open
		}
	}
	if total == 0 {
		return OpenRecord{}, false
	}
	x := rng.IntN(total)
	for _, r := range recs {
		if r.Open > 0 && (skip == nil || !skip(r)) {
			if x < r.Open {
				return r, true
			}
			x -= r.Open
		}
	}
	panic("unreachable")
}
