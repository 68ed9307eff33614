package placement

import (
	"fmt"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Roles from DHT lookups. At ten thousand peers, the peers a node is connected to differ
// from node to node, and so would the stewards and holders each picks from them. The
// stewards of a batch and the holders of a result are instead the K closest DHT servers
// that an iterative lookup of the key finds (in the node: kad-dht GetClosestPeers, which
// converges on the same peers from anywhere). A Lookup is one such result; Lookups caches
// them per key and says when one is to be done again.

// Refresh reasons (Lookups.Stale).
const (
	// MaxLookupAge is how long a lookup is used before it is done again: peers join
	// closer to the key without anyone leaving.
	MaxLookupAge = 10 * time.Minute
	// EmptyLookupRetry is how soon a lookup that found no servers is tried again.
	EmptyLookupRetry = 5 * time.Second
	// RememberLeft is how long a member that left stays known, gone: a view or lookup
	// that no longer finds it keeps it in a batch's voting stewards for this long, so the
	// side of a partition cut off from them cannot elect a primary from the servers it
	// finds instead; a steward new to a batch under way waits as long to hear from its
	// primary (protocol/README.md 10.12).
	RememberLeft = 10 * time.Minute
)

// PeerInfo is a peer a lookup found, with the addresses it was found with.
type PeerInfo struct {
	ID    peer.ID
	Addrs []ma.Multiaddr
}

// Lookup is the result of an iterative DHT lookup of a key: the servers found, closest
// first, and when. It is never changed after it is made (Unreachable makes another).
type Lookup struct {
	key         cid.Cid
	at          time.Time
	peers       []PeerInfo // closest first, each once
	keys        []kb.ID
	unreachable map[peer.ID]time.Time
}

// NewLookup makes the result of a lookup of key done at at: found are the servers it
// found, in any order (a node that serves the DHT adds itself: a lookup does not return
// the peer that asks). Duplicates are merged, their addresses joined.
func NewLookup(key cid.Cid, found []PeerInfo, at time.Time) *Lookup {
	l := &Lookup{key: key, at: at}
	byID := make(map[peer.ID]int, len(found))
	for _, p := range found {
		if p.ID == "" {
			continue
		}
		if i, ok := byID[p.ID]; ok {
			for _, a := range p.Addrs {
				if !slices.ContainsFunc(l.peers[i].Addrs, a.Equal) {
					l.peers[i].Addrs = append(l.peers[i].Addrs, a)
				}
			}
			continue
		}
		byID[p.ID] = len(l.peers)
		l.peers = append(l.peers, PeerInfo{ID: p.ID, Addrs: slices.Clone(p.Addrs)})
	}
	target := keyOf(key)
	slices.SortStableFunc(l.peers, func(a, b PeerInfo) int {
		ka, kb := kb.ConvertPeerID(a.ID), kb.ConvertPeerID(b.ID)
		switch {
		case closer(ka, kb, target):
			return -1
		case closer(kb, ka, target):
			return 1
		}
		return 0
	})
	for _, p := range l.peers {
		l.keys = append(l.keys, kb.ConvertPeerID(p.ID))
	}
	return l
}

// Key is the key looked up.
func (l *Lookup) Key() cid.Cid { return l.key }

// At is when the lookup was done.
func (l *Lookup) At() time.Time { return l.at }

// Found are the servers found, closest first.
func (l *Lookup) Found() []PeerInfo { return slices.Clone(l.peers) }

// Closest returns the k closest servers found that were not found unreachable since,
// nearest first. now is unused today (an unreachable mark does not expire: a new lookup
// replaces it); it keeps the signature of the rules.
func (l *Lookup) Closest(k int, now time.Time) []peer.ID {
	_ = now
	out := make([]peer.ID, 0, k)
	for _, p := range l.peers {
		if len(out) == k {
			break
		}
		if _, gone := l.unreachable[p.ID]; !gone {
			out = append(out, p.ID)
		}
	}
	return out
}

// Set returns the k closest servers found, nearest first, reachable or not: a batch's
// voting stewards under primary leases, which a member found unreachable does not change
// until a new lookup replaces this one.
func (l *Lookup) Set(k int) []peer.ID {
	out := make([]peer.ID, 0, k)
	for _, p := range l.peers[:min(k, len(l.peers))] {
		out = append(out, p.ID)
	}
	return out
}

// Addrs are p's addresses as the lookup found them (nil when it did not find p): a hint
// naming p carries them, so a peer with no route to p can dial it.
func (l *Lookup) Addrs(p peer.ID) []ma.Multiaddr {
	for _, q := range l.peers {
		if q.ID == p {
			return slices.Clone(q.Addrs)
		}
	}
	return nil
}

// Reachable reports whether the lookup found p and p was not found unreachable since.
func (l *Lookup) Reachable(p peer.ID) bool {
	_, gone := l.unreachable[p]
	return !gone && slices.ContainsFunc(l.peers, func(q PeerInfo) bool { return q.ID == p })
}

// Unreachable returns the lookup with p marked as found unreachable at at: it no longer
// counts among the closest, and the lookup is stale (churn).
func (l *Lookup) Unreachable(p peer.ID, at time.Time) *Lookup {
	if !slices.ContainsFunc(l.peers, func(q PeerInfo) bool { return q.ID == p }) {
		return l
	}
	c := *l
	c.unreachable = make(map[peer.ID]time.Time, len(l.unreachable)+1)
	for q, t := range l.unreachable {
		c.unreachable[q] = t
	}
	c.unreachable[p] = at
	return &c
}

// Stale says whether the lookup is to be done again at now for a set of k, and why: it is
// older than MaxLookupAge, found no server or fewer than k (after EmptyLookupRetry: in a
// swarm that small it is looked up again now and then), or a member of its k
// closest was found unreachable after it was made (churn: the next closest may not be
// known to it). A member marked unreachable at the lookup's own time was known to be so
// when it was made: looking again would find the same.
func (l *Lookup) Stale(k int, now time.Time) (bool, string) {
	switch {
	case len(l.peers) == 0:
		if now.Sub(l.at) >= EmptyLookupRetry {
			return true, "the last lookup found no DHT servers"
		}
		return false, ""
	case len(l.peers) < k && now.Sub(l.at) >= EmptyLookupRetry:
		return true, fmt.Sprintf("the last lookup found %d DHT servers, fewer than %d", len(l.peers), k)
	case now.Sub(l.at) >= MaxLookupAge:
		return true, fmt.Sprintf("the lookup is %v old", now.Sub(l.at).Round(time.Second))
	}
	for _, p := range l.peers[:min(k, len(l.peers))] {
		if at, gone := l.unreachable[p.ID]; gone && at.After(l.at) {
			return true, fmt.Sprintf("member %s of the set was found unreachable at %s", p.ID, at.UTC().Format(time.RFC3339))
		}
	}
	return false, ""
}

// Lookups caches one lookup per key. It is not safe for concurrent use.
type Lookups struct {
	byKey map[string]*Lookup
}

// NewLookups is an empty cache.
func NewLookups() *Lookups { return &Lookups{byKey: make(map[string]*Lookup)} }

// Put caches l for its key, replacing the one before.
func (c *Lookups) Put(l *Lookup) { c.byKey[l.key.KeyString()] = l }

// Get is the cached lookup of key, nil when there is none.
func (c *Lookups) Get(key cid.Cid) *Lookup { return c.byKey[key.KeyString()] }

// Forget drops the lookup of key (the node no longer needs its role).
func (c *Lookups) Forget(key cid.Cid) { delete(c.byKey, key.KeyString()) }

// Stale says whether key needs a lookup at now for a set of k, and why ("no lookup yet"
// when none is cached).
func (c *Lookups) Stale(key cid.Cid, k int, now time.Time) (bool, string) {
	l := c.Get(key)
	if l == nil {
		return true, "no lookup yet"
	}
	return l.Stale(k, now)
}

// Unreachable marks p unreachable at at in every cached lookup that found it, and returns
// the keys whose k closest it was among (their lookups are stale now), in no order.
func (c *Lookups) Unreachable(p peer.ID, k int, at time.Time) []cid.Cid {
	var out []cid.Cid
	for key, l := range c.byKey {
		inSet := slices.Contains(l.Closest(k, at), p)
		if m := l.Unreachable(p, at); m != l {
			c.byKey[key] = m
			if inSet {
				out = append(out, l.key)
			}
		}
	}
	return out
}
