package testnet

import (
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestClusterPartitionHealAndSlow(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 4})
	ctx := deadline(t, 90*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Partition([]int{0, 1}, []int{2}); err == nil {
		t.Fatal("a partition that leaves node 3 out was taken")
	}
	if err := c.Partition([]int{0, 1}, []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	across := func() bool {
		for _, a := range []int{0, 1} {
			for _, b := range []int{2, 3} {
				if connected(c.Node(a), c.Node(b)) {
					return true
				}
			}
		}
		return false
	}
	if across() {
		t.Fatal("connections across the partition remain")
	}
	n0, n2 := c.Node(0), c.Node(2)
	if err := n0.Host().Connect(ctx, peer.AddrInfo{ID: n2.ID(), Addrs: n2.Host().Addrs()}); err == nil {
		t.Fatal("a node dialled across the partition")
	}
	// A node restarted during the partition stays on its side of it.
	if err := c.Restart(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(ctx, "node 3 back with node 2", func() bool { return connected(c.Node(3), c.Node(2)) }); err != nil {
		t.Fatal(err)
	}
	if across() {
		t.Fatal("the restarted node crossed the partition")
	}
	c.Heal(ctx)
	if err := WaitFor(ctx, "connections across the healed partition", func() bool {
		return connected(c.Node(0), c.Node(2)) && connected(c.Node(1), c.Node(3))
	}); err != nil {
		t.Fatal(err)
	}

	// A slow node (2 s a task) stays slow across a restart: it finishes at most one round of
	// tasks (a task per slot) per 2 s of the batch, however fast or slow the others are.
	const slow, delay = 1, 2 * time.Second
	c.Slow(slow, delay)
	if err := c.Restart(ctx, slow); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := c.Node(0).Submit(ctx, echoBatch(60, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	st := waitDone(ctx, t, c.Node(0), id)
	rounds, slots := int(time.Since(start)/delay)+1, c.Node(slow).Config().Slots
	for _, p := range st.Peers {
		if p.PeerID == c.Node(slow).ID().String() && p.Done > slots*rounds {
			t.Errorf("the slow node ran %d tasks in %d rounds of %s with %d slots (shares %+v)", p.Done, rounds, delay, slots, st.Peers)
		}
	}
	if st.State != tasks.BatchComplete {
		t.Errorf("batch %s", st.State)
	}
}

func TestHarnessPartitionHealRestart(t *testing.T) {
	h := startHarness(t, HarnessConfig{N: 3, Configure: func(i int, c *node.Config) { c.Slots = 1 }})
	ctx := deadline(t, 90*time.Second)
	if err := h.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Partition(ctx, []int{0}, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	peers := func(i int) int {
		c, err := h.Proc(i).Client()
		if err != nil {
			return -1
		}
		hc, err := c.Health(ctx)
		if err != nil {
			return -1
		}
		return hc.ConnectedPeers
	}
	if n := peers(0); n != 0 {
		t.Errorf("node 0 alone in its group has %d peers", n)
	}
	if n := peers(1); n != 1 {
		t.Errorf("node 1 has %d peers, want node 2 only", n)
	}
	// Restart keeps the peer ID and the port, and the partition.
	before := h.Proc(1).bootAddr
	if err := h.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if after := h.Proc(1).bootAddr; after != before {
		t.Errorf("restarted on %s, was %s", after, before)
	}
	if err := WaitFor(ctx, "node 1 back with node 2", func() bool { return peers(1) == 1 }); err != nil {
		t.Fatal(err)
	}
	if n := peers(0); n != 0 {
		t.Errorf("node 0 has %d peers after node 1 restarted in the partition", n)
	}
	if err := h.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(ctx, "node 0 reconnected", func() bool { return peers(0) == 2 }); err != nil {
		t.Fatal(err)
	}
	c, _ := h.Proc(0).Client()
	if b, err := c.Blocked(ctx); err != nil || len(b.Blocked) != 0 {
		t.Errorf("after heal node 0 blocks %v (%v)", b.Blocked, err)
	}
	// Node 0, the bootstrap node, killed and restarted, finds the swarm again.
	if err := h.Restart(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(ctx, "node 0 connected again", func() bool { return peers(0) == 2 }); err != nil {
		t.Fatal(err)
	}
}
