package placement

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// A lookup's result is sorted by distance to its key, each peer once with every address
// it was found with; a member found unreachable leaves the closest (the next one takes its
// place) but stays in the voting set until a new lookup replaces it, and makes the lookup
// stale, as age and an empty result do.
func TestLookupOrderUnreachableAndStale(t *testing.T) {
	p := ids(8)
	a1, a2 := ma.StringCast("/ip4/127.0.0.1/tcp/1"), ma.StringCast("/ip4/127.0.0.1/tcp/2")
	var found []PeerInfo
	for _, q := range slices.Backward(p) {
		found = append(found, PeerInfo{ID: q})
	}
	found = append(found, PeerInfo{ID: p[3], Addrs: []ma.Multiaddr{a1}}, PeerInfo{ID: p[3], Addrs: []ma.Multiaddr{a1, a2}}, PeerInfo{})
	l := NewLookup(key(5), found, t0)
	order := byDistance(key(5), p)
	if got := l.Closest(3, t0); !slices.Equal(got, order[:3]) {
		t.Fatalf("closest %v, want %v", got, order[:3])
	}
	if len(l.Found()) != len(p) || len(l.Addrs(p[3])) != 2 || l.Addrs(peer.ID("nobody")) != nil {
		t.Fatalf("found %d, addrs of p3 %v", len(l.Found()), l.Addrs(p[3]))
	}
	if stale, why := l.Stale(3, t0.Add(time.Minute)); stale {
		t.Fatalf("a fresh lookup is stale: %s", why)
	}
	gone := l.Unreachable(order[1], t0.Add(time.Second))
	if got := gone.Closest(3, t0); !slices.Equal(got, []peer.ID{order[0], order[2], order[3]}) {
		t.Fatalf("after %s left: closest %v", order[1], got)
	}
	if got := gone.Set(3); !slices.Equal(got, order[:3]) {
		t.Fatalf("the voting set changed without a lookup: %v", got)
	}
	if got := l.Closest(3, t0); !slices.Equal(got, order[:3]) {
		t.Fatal("Unreachable changed the lookup it was called on")
	}
	if stale, why := gone.Stale(3, t0.Add(2*time.Second)); !stale || !strings.Contains(why, "unreachable") {
		t.Fatalf("churn: stale %v (%s)", stale, why)
	}
	if stale, _ := gone.Stale(1, t0.Add(2*time.Second)); stale {
		t.Fatal("a peer outside the set of 1 made it stale")
	}
	// A member known unreachable when the lookup was made (a steward remembered after it
	// left) does not make it stale: looking again would find the same, every tick.
	if stale, why := l.Unreachable(order[1], l.At()).Stale(3, t0.Add(2*time.Second)); stale {
		t.Fatalf("a member marked unreachable at the lookup's own time made it stale: %s", why)
	}
	if stale, why := l.Stale(3, t0.Add(MaxLookupAge)); !stale || !strings.Contains(why, "old") {
		t.Fatalf("age: stale %v (%s)", stale, why)
	}
	empty := NewLookup(key(5), nil, t0)
	if stale, _ := empty.Stale(3, t0.Add(time.Second)); stale {
		t.Fatal("an empty lookup is retried at once")
	}
	if stale, why := empty.Stale(3, t0.Add(EmptyLookupRetry)); !stale || !strings.Contains(why, "no DHT servers") {
		t.Fatalf("empty: stale %v (%s)", stale, why)
	}
}

func TestLookupsCache(t *testing.T) {
	p := ids(6)
	c := NewLookups()
	if stale, why := c.Stale(key(1), 3, t0); !stale || why != "no lookup yet" {
		t.Fatalf("empty cache: %v %q", stale, why)
	}
	var found []PeerInfo
	for _, q := range p {
		found = append(found, PeerInfo{ID: q})
	}
	c.Put(NewLookup(key(1), found, t0))
	c.Put(NewLookup(key(2), found, t0))
	first := byDistance(key(1), p)[0]
	keys := c.Unreachable(first, 1, t0.Add(time.Second))
	want := 1 // key(1)'s set of one is first; key(2)'s may be too
	if byDistance(key(2), p)[0] == first {
		want = 2
	}
	if len(keys) != want {
		t.Fatalf("stale keys %v", keys)
	}
	if got := c.Get(key(1)).Closest(1, t0); slices.Contains(got, first) {
		t.Fatal("the cache kept the unreachable member among the closest")
	}
	c.Forget(key(1))
	if c.Get(key(1)) != nil {
		t.Fatal("forgotten")
	}
}

// The voting stewards of a view are the closest members it knows, reachable or not; the
// stewards are the closest live ones.
func TestKnownClosestCountsUnreachableMembers(t *testing.T) {
	p := ids(6)
	order := byDistance(key(3), p)
	v := New(Config{Self: p[0], At: t0, Members: p, Connected: without(p, order[0])})
	if got := v.KnownClosest(key(3), 3); !slices.Equal(got, order[:3]) {
		t.Fatalf("known closest %v, want %v", got, order[:3])
	}
	if got := v.Stewards(key(3), 3); slices.Contains(got, order[0]) && order[0] != p[0] {
		t.Fatalf("stewards %v include the unreachable %s", got, order[0])
	}
}
