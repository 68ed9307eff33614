package placement

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"allforone/tasks"

	"github.com/ipfs/go-cid"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
)

var t0 = time.UnixMilli(1_750_000_000_000)

// ids are n peer IDs; any string is an ID as far as the keyspace goes.
func ids(n int) []peer.ID {
	out := make([]peer.ID, n)
	for i := range out {
		out[i] = peer.ID(fmt.Sprintf("peer-%02d", i))
	}
	return out
}

func key(i int) cid.Cid { return tasks.ContentID([]byte{byte(i), byte(i >> 8)}) }

// byDistance sorts peers by XOR distance to key, the slow and obvious way.
func byDistance(key cid.Cid, ps []peer.ID) []peer.ID {
	target := kb.ConvertKey(string(key.Bytes()))
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b peer.ID) int {
		switch {
		case closer(kb.ConvertPeerID(a), kb.ConvertPeerID(b), target):
			return -1
		case closer(kb.ConvertPeerID(b), kb.ConvertPeerID(a), target):
			return 1
		}
		return 0
	})
	return out
}

func TestClosestIsTheKNearestLiveMembers(t *testing.T) {
	p := ids(12)
	// p[10] is a member that is not connected; p[11] is connected but no member.
	v := New(Config{Self: p[0], At: t0, Members: p[:11], Connected: append(slices.Clone(p[1:10]), p[11])})
	live := p[:10]
	for i := range 200 {
		want := byDistance(key(i), live)[:3]
		if got := v.Closest(key(i), 3); !slices.Equal(got, want) {
			t.Fatalf("key %d: closest %v, want %v", i, got, want)
		}
		if got := v.Stewards(key(i), 3); got[0] != v.Primary(key(i), 3) || !slices.Equal(got, want) {
			t.Fatalf("key %d: stewards %v, primary %v", i, got, v.Primary(key(i), 3))
		}
	}
	if !v.Live(p[11]) || v.Live(p[10]) || !v.Live(p[0]) {
		t.Fatal("live: a connected peer is live, an unconnected member is not, self always is")
	}
	if got := v.Closest(key(0), 50); len(got) != 10 {
		t.Fatalf("asked for more than there are: %d", len(got))
	}
}

func TestALoneNodeTakesEveryRole(t *testing.T) {
	p := ids(3)
	// Self is not a member (it serves the DHT as a client) and no member is live.
	v := New(Config{Self: p[0], At: t0, Members: p[1:]})
	if got := v.Stewards(key(1), 3); !slices.Equal(got, []peer.ID{p[0]}) {
		t.Fatalf("stewards %v: a node that sees no live member takes the roles", got)
	}
	if v.OtherSteward(key(1), 3) != "" {
		t.Fatal("a hint to another steward where there is none")
	}
}

// A holder that left counts as holding for the grace, then no more; without a grace it
// stops counting at once.
func TestAwayWithinTheGrace(t *testing.T) {
	p := ids(8)
	left := map[peer.ID]time.Time{p[7]: t0}
	at := func(d time.Duration, grace time.Duration) *View {
		return New(Config{Self: p[0], At: t0.Add(d), Members: p, Connected: p[:7], Departed: left, Grace: grace})
	}
	if s := at(time.Second, time.Minute).State(p[7]); s != tasks.HolderAway {
		t.Fatalf("1 s after it left, within a minute's grace: %v", s)
	}
	if s := at(time.Minute, time.Minute).State(p[7]); s != tasks.HolderGone {
		t.Fatalf("at the end of the grace: %v", s)
	}
	if s := at(time.Second, 0).State(p[7]); s != tasks.HolderGone {
		t.Fatalf("no grace: %v", s)
	}
	if s := at(time.Second, time.Minute).LiveState(p[7]); s != tasks.HolderGone {
		t.Fatalf("garbage collection counts only live holders: %v", s)
	}
	// The holders chosen for a result count it too, and the steward's count agrees.
	v := at(time.Second, time.Minute)
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("no key has the away member among its closest")
		}
		h := v.Holders(key(i), 3)
		if !slices.Contains(h, p[7]) {
			continue
		}
		if want := byDistance(key(i), p)[:3]; !slices.Equal(h, want) {
			t.Fatalf("holders %v, want %v (the closest of live and away)", h, want)
		}
		if slices.Contains(v.RepairTargets(key(i), 3), p[0]) {
			t.Fatal("a node repairs towards itself")
		}
		if slices.Contains(v.StoreTargets(key(i), 3, nil), p[7]) {
			t.Fatal("a store goes to a member that is away")
		}
		break
	}
	if v.NeedsCopies(3, []peer.ID{p[1], p[2], p[7]}) {
		t.Fatal("two live copies and one away within the grace need no copies")
	}
	if !at(time.Minute, time.Minute).NeedsCopies(3, []peer.ID{p[1], p[2], p[7]}) {
		t.Fatal("after the grace, a holder that has not come back needs replacing")
	}
}

// Two of a result's three holders away leave one live copy: the grace does not apply below
// two live copies, so both are replaced at once.
func TestTheGraceKeepsTwoLiveCopies(t *testing.T) {
	p := ids(10)
	for i := 0; i < 1000; i++ {
		h := byDistance(key(i), p)[:3]
		if slices.Contains(h, p[0]) {
			continue // self among them (always live): keep the test about other holders
		}
		one := map[peer.ID]time.Time{h[1]: t0}
		v := New(Config{Self: p[0], At: t0.Add(time.Second), Members: p, Connected: without(p, h[1]), Departed: one, Grace: time.Hour})
		if got := v.Holders(key(i), 3); !slices.Contains(got, h[1]) {
			t.Fatalf("one holder away, two live: it still counts, holders %v", got)
		}
		two := map[peer.ID]time.Time{h[1]: t0, h[2]: t0}
		v = New(Config{Self: p[0], At: t0.Add(time.Second), Members: p, Connected: without(p, h[1], h[2]), Departed: two, Grace: time.Hour})
		got := v.Holders(key(i), 3)
		if slices.Contains(got, h[1]) || slices.Contains(got, h[2]) {
			t.Fatalf("two holders away, one live: they must not count, holders %v", got)
		}
		if !v.NeedsCopies(3, h) {
			t.Fatal("the steward's count disagrees")
		}
		return
	}
	t.Fatal("no key found")
}

func without(ps []peer.ID, drop ...peer.ID) []peer.ID {
	return slices.DeleteFunc(slices.Clone(ps), func(p peer.ID) bool { return slices.Contains(drop, p) })
}

func TestHandOffExtraCopyAndFetch(t *testing.T) {
	p := ids(6)
	v := New(Config{Self: p[0], At: t0, Members: p, Connected: p})
	for i := range 100 {
		order := byDistance(key(i), p)
		hand := v.HandOffTargets(key(i), 3)
		want := without(order[:4], p[0])
		if !slices.Equal(hand, want) {
			t.Fatalf("key %d: hand-off %v, want %v", i, hand, want)
		}
		holders, extra := v.ExtraCopy(key(i), 3)
		if extra == slices.Contains(order[:3], p[0]) || !slices.Equal(holders, order[:3]) {
			t.Fatalf("key %d: extra %v with holders %v (order %v)", i, extra, holders, order)
		}
		if got := v.FetchTargets(key(i), 3); !slices.Equal(got, without(order[:3], p[0])) {
			t.Fatalf("key %d: fetch targets %v", i, got)
		}
	}
	// Short of k live members, no copy is extra.
	small := New(Config{Self: p[0], At: t0, Members: p[:2], Connected: p[:2]})
	if _, extra := small.ExtraCopy(key(0), 3); extra {
		t.Fatal("short of K live members, a copy is never extra")
	}
}

func TestNearStewardAndHints(t *testing.T) {
	p := ids(10)
	v := New(Config{Self: p[0], At: t0, Members: p, Connected: p})
	order := byDistance(key(7), p)
	for i, q := range order {
		if got := v.NearSteward(key(7), 3, q); got != (i < 3+Slack) {
			t.Fatalf("%d-th closest: near %v", i, got)
		}
	}
	hint := v.OtherSteward(key(7), 3)
	if hint == p[0] || hint != without(order, p[0])[0] {
		t.Fatalf("hint %v", hint)
	}
}

func TestCandidatesKeyChangesWithTheCandidates(t *testing.T) {
	p := ids(5)
	a := New(Config{Self: p[0], At: t0, Members: p, Connected: p})
	b := New(Config{Self: p[0], At: t0.Add(time.Hour), Members: p, Connected: p})
	c := New(Config{Self: p[0], At: t0, Members: p, Connected: p[:4], Departed: map[peer.ID]time.Time{p[4]: t0}, Grace: time.Minute})
	if a.CandidatesKey() != b.CandidatesKey() {
		t.Fatal("the same candidates at another time: the same key")
	}
	if a.CandidatesKey() == c.CandidatesKey() {
		t.Fatal("a member away instead of live: another key")
	}
	if sw := a.Swarm(); sw[0] != p[0] || len(sw) != 1 {
		t.Fatalf("swarm %v: self only, as none was given", sw)
	}
}

// Closest agrees with kbucket's sort by XOR distance, for every k.
func TestClosestAgreesWithKbucket(t *testing.T) {
	var peers []peer.ID
	for range 40 {
		p, err := test.RandPeerID()
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	v := New(Config{Self: peers[0], At: t0, Members: peers, Connected: peers})
	for i := range 50 {
		key := tasks.ContentID([]byte{byte(i)})
		want := kb.SortClosestPeers(slices.Clone(peers), kb.ConvertKey(string(key.Bytes())))
		for _, k := range []int{0, 1, 3, 40, 50} {
			if got := v.Closest(key, k); !slices.Equal(got, want[:min(k, len(want))]) {
				t.Fatalf("key %d, k %d: got %v, want %v", i, k, got, want[:min(k, len(want))])
			}
		}
	}
}
