package node

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/tasks/placement"
	"allforone/tasks/steward"
	"allforone/tasks/wasmtest"
)

// lookupOf is the lookup n's steward loop of batch id stepped in last (nil when it runs
// none, or has looked nothing up yet).
func lookupOf(ctx context.Context, n *Node, id cid.Cid) *placement.Lookup {
	b := n.getBatch(id)
	if b == nil {
		return nil
	}
	l := n.stewardOf(b)
	if l == nil {
		return nil
	}
	var res *placement.Lookup
	l.inspect(ctx, func(*steward.Steward) { res = l.look.last })
	return res
}

// Under primary leases a steward finds the batch's stewards by a DHT lookup over real
// loopback sockets (kad-dht GetClosestPeers): the K servers closest to the batch ID, with
// their addresses. When one of them crashes, the others mark it unreachable, look the
// batch up again, and keep counting it in the voting set (a lookup that no longer finds it
// must not let a new majority form without it) while the next closest server takes its
// place among the stewards; the batch finishes.
func TestStewardsComeFromTheLookup(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	nodes := make([]*Node, 5)
	var ids []peer.ID
	for i := range nodes {
		nodes[i] = newFencedNode(t)
		ids = append(ids, nodes[i].id)
		for _, o := range nodes[:i] {
			connectNodes(t, nodes[i], o)
		}
	}
	const k, n = 3, 20
	id := submitTasks(t, ctx, nodes[0], "spin", wasmtest.Spin(20_000_000), n, k)
	closest := placement.New(placement.Config{Self: ids[0], Members: ids, Connected: ids}).Stewards(id, len(ids))
	want := closest[:k]
	byID := map[peer.ID]*Node{}
	for _, x := range nodes {
		byID[x.id] = x
	}
	deadlineFor(t, ctx, "every steward's lookup to find the batch's closest servers", func() bool {
		for _, p := range want {
			l := lookupOf(ctx, byID[p], id)
			if l == nil || !slices.Equal(l.Set(k), want) {
				return false
			}
			for _, q := range want {
				if q != p && len(l.Addrs(q)) == 0 {
					return false // a hint to q would carry no address
				}
			}
		}
		return true
	})

	gone := byID[want[1]]
	crashed := time.Now()
	gone.fail(errors.New("test: a crash"))
	gone.Close()
	survivor := byID[want[0]]
	deadlineFor(t, ctx, "the survivor to look the batch up again after the crash", func() bool {
		l := lookupOf(ctx, survivor, id)
		return l != nil && l.At().After(crashed)
	})
	l := lookupOf(ctx, survivor, id)
	if stale, why := l.Stale(k, time.Now()); stale {
		t.Errorf("the lookup after the crash is stale at once (%s): the loop would look again every tick", why)
	}
	if got := l.Set(k); !slices.Equal(got, want) {
		t.Errorf("voting set after the crash %v, want %v (the crashed steward still counted)", got, want)
	}
	if got, next := l.Closest(k, time.Now()), []peer.ID{want[0], want[2], closest[k]}; !slices.Equal(got, next) {
		t.Errorf("stewards after the crash %v, want %v (the next closest in the crashed one's place)", got, next)
	}
	deadlineFor(t, ctx, "the batch to finish", func() bool {
		st, err := survivor.Status(ctx, id)
		return err == nil && st.State == "complete" && st.Done == n
	})
}
