package testnet

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"
)

// natPublic is how many public nodes the NAT lab runs: identify only trusts an observed
// address (the NAT's outside port, which hole punching needs) once four peers with
// different addresses report it.
const natPublic = 4

// natSwarm is a process testnet in a natLab: natPublic public nodes on the lab's internet
// (node 0, the bootstrap node, is configured as public, as an operator would; the others
// find out by AutoNAT) and one node per home behind its router.
type natSwarm struct {
	lab     *natLab
	h       *Harness
	started time.Time
}

func startNATSwarm(t testing.TB, homes ...natKind) *natSwarm {
	lab := newNATLab(t, natPublic, homes...)
	ns := func(i int) string {
		if i < natPublic {
			return lab.publicNS(i)
		}
		return lab.homeNS(i - natPublic)
	}
	ip := func(i int) string {
		if i < natPublic {
			return labPublicIP(i)
		}
		return labHomeIP(i - natPublic)
	}
	s := &natSwarm{lab: lab, started: time.Now()}
	s.h = startHarness(t, HarnessConfig{
		Dir:  os.Getenv("ALLFORONE_NATLAB_DIR"), // keep the daemons' logs there
		N:    natPublic + len(homes),
		Env:  []string{"GOLOG_LOG_LEVEL=" + os.Getenv("ALLFORONE_NATLAB_LOG")},
		Wrap: func(i int) []string { return wrapNS(ns(i)) },
		Dial: func(i int) func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialNS(ns(i))
		},
		Configure: func(i int, c *node.Config) {
			c.ListenAddrs = []string{"/ip4/" + ip(i) + "/tcp/4501", "/ip4/" + ip(i) + "/udp/4501/quic-v1"}
			c.NAT = node.DefaultNATConfig()
			c.DHTMode = node.DHTAuto // serve the DHT once AutoNAT says public (init --public)
			if i == 0 {
				c.NAT.Reachability = node.ReachPublic
				c.DHTMode = node.DHTServer
			}
		},
	})
	return s
}

func (s *natSwarm) client(t testing.TB, i int) *node.Client {
	t.Helper()
	c, err := s.h.Proc(i).Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *natSwarm) homes() []int {
	var out []int
	for i := natPublic; i < s.h.Size(); i++ {
		out = append(out, i)
	}
	return out
}

// waitReady waits until every public node serves the DHT and every home node knows it is
// behind a NAT and holds a relay reservation; it returns when each home node got there.
func (s *natSwarm) waitReady(t testing.TB, ctx context.Context) map[int]time.Duration {
	t.Helper()
	for i := range natPublic {
		c := s.client(t, i)
		if err := WaitFor(ctx, "public node to serve the DHT", func() bool {
			info, err := c.ID(ctx)
			return err == nil && info.DHTServer && info.Reachability == "public"
		}); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	ready := map[int]time.Duration{}
	for _, i := range s.homes() {
		c := s.client(t, i)
		var info node.IDInfo
		if err := WaitFor(ctx, "home node to find it is behind a NAT and reserve a relay", func() bool {
			var err error
			info, err = c.ID(ctx)
			if err == nil && info.Reachability == "private" && len(info.Relays) > 0 {
				ready[i] = time.Since(s.started)
				return true
			}
			return false
		}); err != nil {
			t.Fatalf("node %d (last %+v): %v", i, info, err)
		}
		if info.DHTServer {
			t.Errorf("home node %d serves the DHT while unreachable", i)
		}
		t.Logf("home node %d: addresses %v", i, info.Addrs)
	}
	return ready
}

// linkHomes connects every pair of home nodes and returns how many pairs ended up with a
// direct connection, after waiting up to wait for hole punching. byID finds the other home
// by its peer ID through the DHT (the public nodes know its relayed addresses); otherwise
// it dials the relayed address the other home's `id` prints.
func (s *natSwarm) linkHomes(t testing.TB, ctx context.Context, byID bool, wait time.Duration) (direct, pairs int) {
	t.Helper()
	homes := s.homes()
	for a, i := range homes {
		for _, j := range homes[a+1:] {
			pairs++
			ci := s.client(t, i)
			target := s.h.Proc(j).PeerID
			if !byID {
				info, err := s.client(t, j).ID(ctx)
				if err != nil {
					t.Fatal(err)
				}
				k := slices.IndexFunc(info.Addrs, func(a string) bool { return strings.Contains(a, "/p2p-circuit/") })
				if k < 0 {
					t.Fatalf("home %d has no relayed address: %v", j, info.Addrs)
				}
				target = info.Addrs[k]
			}
			var pi node.PeerInfo
			var err error
			tries, start := 0, time.Now()
			if werr := WaitFor(ctx, "a home to reach the other", func() bool {
				tries++
				pi, err = ci.Connect(ctx, target)
				return err == nil
			}); werr != nil {
				t.Fatalf("home %d cannot reach home %d even through a relay: %v", i, j, err)
			}
			t.Logf("home %d -> home %d: connected after %d tries in %v (relayed %v)", i, j, tries, time.Since(start).Round(time.Millisecond), pi.Relayed)
			wctx, cancel := context.WithTimeout(ctx, wait)
			err = WaitFor(wctx, "a direct connection", func() bool {
				ps, err := ci.Peers(ctx)
				if err != nil {
					return false
				}
				k := slices.IndexFunc(ps, func(p node.PeerInfo) bool { return p.PeerID == s.h.Proc(j).PeerID })
				return k >= 0 && !ps[k].Relayed
			})
			cancel()
			if err == nil {
				direct++
			}
		}
	}
	return direct, pairs
}

// runBatch submits a batch from the first home node and checks that it completes, that the
// home nodes computed part of it, and that no home node was a steward or a result holder.
func (s *natSwarm) runBatch(t testing.TB, ctx context.Context, n int) {
	t.Helper()
	homes := s.homes()
	sub := s.client(t, homes[0])
	res, err := sub.Submit(ctx, echoBatch(n, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	var st node.BatchStatus
	if err := WaitFor(ctx, "the batch to finish", func() bool {
		st, err = sub.Status(ctx, res.BatchID)
		return err == nil && st.State != tasks.BatchRunning
	}); err != nil {
		t.Fatalf("%v (last %+v)", err, st)
	}
	if st.State != tasks.BatchComplete {
		t.Fatalf("batch %+v", st)
	}
	homeDone := 0
	for _, p := range st.Peers {
		for _, i := range homes {
			if p.PeerID == s.h.Proc(i).PeerID {
				homeDone += p.Done
			}
		}
	}
	t.Logf("batch of %d: %d executions, %d by home nodes; steward %s", n, st.Executions, homeDone, st.Steward)
	if homeDone == 0 {
		t.Errorf("the home nodes computed nothing: %+v", st.Peers)
	}
	for _, i := range homes {
		if st.Steward == s.h.Proc(i).PeerID {
			t.Errorf("home node %d is the steward while unreachable", i)
		}
		held, err := s.client(t, i).Held(ctx, res.BatchID)
		if err != nil {
			t.Fatal(err)
		}
		if len(held) > 0 {
			t.Errorf("home node %d holds %d results while unreachable", i, len(held))
		}
	}
	rep, err := sub.Fetch(ctx, res.BatchID)
	if err != nil || len(rep.Missing) > 0 || rep.Have != n {
		t.Fatalf("fetching the results at the home submitter: %+v %v", rep, err)
	}
}

// Two homes behind NATs that keep ports (most home routers): they learn they are not
// reachable (and so serve no DHT), reserve relays among the public nodes, reach each other
// through a relay, hole punching makes that direct, and a batch submitted from a home
// completes with the public nodes. The public nodes other than the bootstrap node move to
// DHT server mode once AutoNAT finds them reachable.
func TestNATHolePunching(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a NAT lab of six daemons in network namespaces")
	}
	s := startNATSwarm(t, coneNAT, coneNAT)
	ctx := deadline(t, 4*time.Minute)
	ready := s.waitReady(t, ctx)
	t.Logf("home nodes behind NAT with a relay after %v", ready)
	direct, pairs := s.linkHomes(t, ctx, true, 30*time.Second)
	if direct != pairs {
		t.Errorf("%d of %d home pairs connected directly after hole punching", direct, pairs)
	}
	s.runBatch(t, ctx, 60)
	// Nodes 1-3 started as DHT clients (mode auto) and became servers once reachable.
	for i := 1; i < natPublic; i++ {
		b, err := os.ReadFile(filepath.Join(s.h.Proc(i).Dir, "daemon.log"))
		if err != nil || !strings.Contains(string(b), `msg="DHT mode changed"`) || !strings.Contains(string(b), "server=true") {
			t.Errorf("public node %d never logged its move to DHT server mode (%v)", i, err)
		}
	}
}

// BenchmarkNATUsable measures, in the NAT lab with three homes behind port-keeping NATs and
// one behind a symmetric NAT, how long a home node takes from start to its first lease and
// to a relay reservation, and the share of home-to-home connections that hole punching
// made direct.
//
//	go test ./testnet -run '^$' -bench NATUsable -benchtime 1x
func BenchmarkNATUsable(b *testing.B) {
	for b.Loop() {
		s := startNATSwarm(b, coneNAT, coneNAT, coneNAT, symmetricNAT)
		ctx := deadline(b, 5*time.Minute)
		c0 := s.client(b, 0)
		res, err := c0.Submit(ctx, echoBatch(400, 1, 2))
		if err != nil {
			b.Fatal(err)
		}
		var firstLease []float64
		seen := map[string]bool{}
		if err := WaitFor(ctx, "every home node to take a lease", func() bool {
			st, err := c0.Status(ctx, res.BatchID)
			if err != nil {
				return false
			}
			for _, p := range st.Peers {
				for _, i := range s.homes() {
					if p.PeerID == s.h.Proc(i).PeerID && p.Done+p.Running > 0 && !seen[p.PeerID] {
						seen[p.PeerID] = true
						firstLease = append(firstLease, time.Since(s.started).Seconds())
					}
				}
			}
			return len(seen) == len(s.homes()) || st.State != tasks.BatchRunning
		}); err != nil {
			b.Fatal(err)
		}
		ready := s.waitReady(b, ctx)
		direct, pairs := s.linkHomes(b, ctx, false, 30*time.Second)
		var relay []float64
		for _, d := range ready {
			relay = append(relay, d.Seconds())
		}
		slices.Sort(relay)
		slices.Sort(firstLease)
		b.ReportMetric(firstLease[len(firstLease)-1], "s-to-first-lease-worst")
		b.ReportMetric(relay[len(relay)/2], "s-to-relay-median")
		b.ReportMetric(relay[len(relay)-1], "s-to-relay-worst")
		b.ReportMetric(100*float64(direct)/float64(pairs), "%-pairs-direct")
	}
}

// Behind symmetric NATs hole punching cannot work: the homes still reach each other through
// a relay, and the batch still completes, its work flowing over the connections the homes
// opened to the public nodes.
func TestNATSymmetricRelayOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a NAT lab of six daemons in network namespaces")
	}
	s := startNATSwarm(t, symmetricNAT, symmetricNAT)
	ctx := deadline(t, 4*time.Minute)
	s.waitReady(t, ctx)
	direct, pairs := s.linkHomes(t, ctx, false, 5*time.Second)
	t.Logf("%d of %d home pairs direct behind symmetric NATs", direct, pairs)
	s.runBatch(t, ctx, 60)
}
