package testnet

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"allforone/node"
	"allforone/tasks"
)

// TestTwoHundredNodesOnePrimaryPerBatch runs 200 real nodes in this process over loopback
// (the whole libp2p stack: DHT lookups, gossipsub, streams), submits batches from three of
// them and restarts other nodes at random while they run. Every batch finishes with every
// task accepted, and its primary is one node at a time: no two nodes hold one epoch, and a
// node never holds a lower epoch after another node was seen holding a higher one (each
// reading is bracketed by its own start and end, so a slow reading cannot make a false
// overlap). ALLFORONE_SCALE_NODES changes the size (`-run TwoHundred -v` prints the
// numbers); where the open-file limit is too low for 200 nodes (20,000 fit about 126) it
// runs as many as fit and says so.
func TestTwoHundredNodesOnePrimaryPerBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("200 nodes: not with -short")
	}
	n := 200
	if v, err := strconv.Atoi(os.Getenv("ALLFORONE_SCALE_NODES")); err == nil && v >= 10 {
		n = v
	}
	// Each node keeps up to about 150 files open while batches run (its connections, kept
	// a minute before the connection manager may trim them, and its datastore): where the
	// process may not open that many, as many nodes run as fit.
	if limit := raiseFileLimit(65536); limit > 0 && uint64(n)*150+1000 > limit {
		n = max(10, int((limit-1000)/150))
		t.Logf("the open-file limit is %d: %d nodes fit", limit, n)
	}
	ctx := deadline(t, 12*time.Minute)
	start := time.Now()
	// Fewer connections than a home node keeps (64 to 128): 200 nodes in one process
	// would pass its open-file limit (each loopback connection is two descriptors here).
	c, err := StartCluster(ctx, ClusterConfig{N: n, Bootstraps: 3, Dir: t.TempDir(),
		Configure: func(_ int, c *node.Config) { c.ConnLow, c.ConnHigh = 16, 40 }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := WaitFor(ctx, "every node to know 20 others", func() bool {
		for _, nd := range c.Nodes() {
			if c.Knows(nd) < min(20, n-1) {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d nodes up and each knowing 20 others in %.1fs, %d files open", n, time.Since(start).Seconds(), openFiles())
	for _, nd := range c.Nodes() {
		nd.SetTaskDelay(20 * time.Millisecond) // batches last long enough for the churn
	}
	const perBatch = 300
	submitters := []int{0, 1, 2}
	var ids []cid.Cid
	for _, i := range submitters {
		res, err := c.Node(i).Submit(ctx, echoBatch(perBatch, 1, 3))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := cid.Decode(res.BatchID)
		ids = append(ids, id)
	}
	started := time.Now()

	// Readings of who holds each batch's primary lease, every 100 ms.
	type reading struct {
		node       int
		epoch      uint64
		start, end time.Time
	}
	var mu sync.Mutex
	held := make([][]reading, len(ids))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i := range n {
				nd := c.Node(i)
				if nd == nil {
					continue
				}
				for b, id := range ids {
					t0 := time.Now()
					if e := nd.PrimaryEpoch(id); e > 0 {
						mu.Lock()
						held[b] = append(held[b], reading{i, e, t0, time.Now()})
						mu.Unlock()
					}
				}
			}
		}
	})

	// Churn: every second one node (not a submitter) is restarted, while work is left.
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	restarts := 0
	done := func() bool {
		for _, id := range ids {
			st, err := c.Node(0).Status(ctx, id)
			if err != nil || st.State == tasks.BatchRunning {
				return false
			}
		}
		return true
	}
	for !done() && ctx.Err() == nil {
		i := len(submitters) + rng.IntN(n-len(submitters))
		if err := c.Restart(ctx, i); err != nil {
			t.Fatalf("restart node %d (%d files open): %v", i, openFiles(), err)
		}
		restarts++
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("3 batches of %d tasks done in %.1fs with %d restarts", perBatch, time.Since(started).Seconds(), restarts)

	for b, id := range ids {
		st := waitDone(ctx, t, c.Node(0), id)
		if st.Done != perBatch || st.Failed != 0 {
			t.Errorf("batch %d: %d of %d tasks done, %d failed", b, st.Done, perBatch, st.Failed)
		}
		if err := WaitFor(ctx, fmt.Sprintf("batch %d's results on 3 live holders", b), func() bool {
			st, err := c.Node(0).Status(ctx, id)
			return err == nil && st.MinReplicas >= 3
		}); err != nil {
			t.Error(err)
		}
		byEpoch := map[uint64]int{}
		first := map[uint64]reading{} // the first reading of each epoch
		last := map[uint64]reading{}  // the last reading of each epoch
		for _, r := range held[b] {
			if h, ok := byEpoch[r.epoch]; ok && h != r.node {
				t.Errorf("batch %d: nodes %d and %d both held epoch %d", b, h, r.node, r.epoch)
			}
			byEpoch[r.epoch] = r.node
			if _, ok := first[r.epoch]; !ok {
				first[r.epoch] = r
			}
			last[r.epoch] = r
		}
		for lo, l := range last {
			for hi, f := range first {
				if hi > lo && f.node != l.node && f.end.Before(l.start) {
					t.Errorf("batch %d: node %d held epoch %d before node %d stopped holding epoch %d", b, f.node, hi, l.node, lo)
				}
			}
		}
		t.Logf("batch %d: %d primary epochs (%d readings)", b, len(byEpoch), len(held[b]))
	}
}

// openFiles is how many file descriptors this process has open (-1 where /proc is not).
func openFiles() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}
