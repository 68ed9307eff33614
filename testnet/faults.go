package testnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"allforone/node"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Fault verbs shared by the process Harness and the in-process Cluster: kill (and restart on
// the same data dir), partition the swarm into groups and heal it, slow a node down.
// Partitions need no root: every node's connection gater refuses the peers of the other
// groups (node.BlockPeers, or POST /api/v1/testing/partition on a daemon). A node that
// starts while a partition is in force, or that was slowed, gets its faults again.

// faultState is the partition and slowness a testnet is under. Its methods are safe for
// concurrent use.
type faultState struct {
	mu     sync.Mutex
	group  []int // node -> its group while partitioned; nil when whole
	delays map[int]time.Duration
}

// partition records groups over n nodes: every node in exactly one group.
func (f *faultState) partition(n int, groups [][]int) error {
	group, err := groupIndex(n, groups)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.group = group
	f.mu.Unlock()
	return nil
}

// heal forgets the partition and returns the groups it had (nil if none).
func (f *faultState) heal() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.group
	f.group = nil
	return g
}

// outside returns the nodes that node i must not reach under the current partition.
func (f *faultState) outside(i int) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.group == nil {
		return nil
	}
	var out []int
	for j, g := range f.group {
		if g != f.group[i] {
			out = append(out, j)
		}
	}
	return out
}

func (f *faultState) setDelay(i int, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.delays == nil {
		f.delays = make(map[int]time.Duration)
	}
	f.delays[i] = d
}

func (f *faultState) delay(i int) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delays[i]
}

// groupIndex maps each of n nodes to its group, checking that the groups cover every node
// exactly once.
func groupIndex(n int, groups [][]int) ([]int, error) {
	if len(groups) < 2 {
		return nil, fmt.Errorf("a partition needs at least 2 groups, got %d", len(groups))
	}
	group := make([]int, n)
	for i := range group {
		group[i] = -1
	}
	for g, nodes := range groups {
		if len(nodes) == 0 {
			return nil, fmt.Errorf("partition group %d is empty", g)
		}
		for _, i := range nodes {
			if i < 0 || i >= n {
				return nil, fmt.Errorf("partition group %d names node %d of a %d-node testnet", g, i, n)
			}
			if group[i] >= 0 {
				return nil, fmt.Errorf("node %d is in partition groups %d and %d", i, group[i], g)
			}
			group[i] = g
		}
	}
	for i, g := range group {
		if g < 0 {
			return nil, fmt.Errorf("node %d is in no partition group: list every node", i)
		}
	}
	return group, nil
}

// --- the process harness ---

// Size is the number of nodes, running or not.
func (h *Harness) Size() int { return len(h.procs) }

// Restart kills node i if it runs (SIGKILL) and starts it again on its data dir, as a
// rebooted machine comes back: on the TCP port it had (so peers that remember it can dial
// it; a fresh port when that one is taken), and with a few running nodes as bootstrap
// peers besides node 0 (so node 0 and nodes whose saved peers all moved find the swarm).
func (h *Harness) Restart(ctx context.Context, i int) error {
	prev := h.Proc(i)
	if prev.Running() {
		h.Kill(i)
	}
	var boot []string
	for _, p := range h.Procs() {
		if len(boot) < 2*restartBootstraps && p.Index != i && p.Running() && p.bootAddr != "" {
			boot = append(boot, "--bootstrap", p.bootAddr)
		}
	}
	if listen := tcpListenAddr(prev); listen != "" {
		if err := h.start(ctx, i, append([]string{"--listen", listen}, boot...)...); err == nil {
			return nil
		}
	}
	return h.start(ctx, i, boot...)
}

// restartBootstraps is how many running nodes a restarted daemon bootstraps from.
const restartBootstraps = 3

// tcpListenAddr is the /ip4/.../tcp/PORT part of the address p listened on, or "".
func tcpListenAddr(p *Proc) string {
	if p == nil || p.bootAddr == "" {
		return ""
	}
	m, err := ma.NewMultiaddr(p.bootAddr)
	if err != nil {
		return ""
	}
	if _, err := m.ValueForProtocol(ma.P_TCP); err != nil {
		return ""
	}
	transport, _ := ma.SplitFirst(m) // /ip4/x
	if transport == nil {
		return ""
	}
	port, _ := m.ValueForProtocol(ma.P_TCP)
	return transport.String() + "/tcp/" + port
}

// Partition cuts the testnet into groups of node indexes (every node in exactly one): the
// daemons of each group refuse and drop connections to the others until Heal.
func (h *Harness) Partition(ctx context.Context, groups ...[]int) error {
	if err := h.faults.partition(h.Size(), groups); err != nil {
		return err
	}
	var errs []error
	for _, p := range h.Procs() {
		if p.Running() {
			errs = append(errs, h.applyPartition(ctx, p.Index))
		}
	}
	return errors.Join(errs...)
}

func (h *Harness) applyPartition(ctx context.Context, i int) error {
	out := h.faults.outside(i)
	if out == nil {
		return nil
	}
	var ids []string
	for _, j := range out {
		if p := h.Proc(j); p != nil && p.PeerID != "" {
			ids = append(ids, p.PeerID)
		}
	}
	c, err := h.Proc(i).Client()
	if err != nil {
		return err
	}
	if _, err := c.Partition(ctx, ids); err != nil {
		return fmt.Errorf("partition node %d: %w", i, err)
	}
	return nil
}

// Heal ends a partition: every daemon lifts its blocks and dials back the daemons of the
// other groups where they listen now.
func (h *Harness) Heal(ctx context.Context) error {
	group := h.faults.heal()
	addrs := make(map[int][]string)
	for _, p := range h.Procs() {
		if !p.Running() {
			continue
		}
		if c, err := p.Client(); err == nil {
			if info, err := c.ID(ctx); err == nil {
				addrs[p.Index] = info.Addrs
			}
		}
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, p := range h.Procs() {
		if !p.Running() {
			continue
		}
		var dial []string
		for j, a := range addrs {
			if group != nil && group[j] != group[p.Index] {
				dial = append(dial, a...)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Client()
			if err == nil {
				_, err = c.Heal(ctx, dial)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("heal node %d: %w", p.Index, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Slow makes every task node i runs take d longer (0: normal speed), now and after restarts.
func (h *Harness) Slow(ctx context.Context, i int, d time.Duration) error {
	h.faults.setDelay(i, d)
	if !h.Proc(i).Running() {
		return nil
	}
	c, err := h.Proc(i).Client()
	if err != nil {
		return err
	}
	return c.SetSlow(ctx, d)
}

// reapplyFaults gives a daemon that just started the partition and slowness in force.
func (h *Harness) reapplyFaults(ctx context.Context, i int) error {
	var errs []error
	errs = append(errs, h.applyPartition(ctx, i))
	if d := h.faults.delay(i); d > 0 {
		c, err := h.Proc(i).Client()
		if err == nil {
			err = c.SetSlow(ctx, d)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// --- the in-process cluster ---

// Kill stops node i. In one process there is no SIGKILL: the node closes (gracefully), and
// tests that need a crash with no goodbye use the process Harness.
func (c *Cluster) Kill(i int) error { return c.Stop(i) }

// Partition cuts the cluster into groups of node indexes (every node in exactly one): the
// nodes of each group refuse and drop connections to the others until Heal.
func (c *Cluster) Partition(groups ...[]int) error {
	if err := c.faults.partition(c.Size(), groups); err != nil {
		return err
	}
	for i := range c.Size() {
		c.applyPartition(i)
	}
	return nil
}

func (c *Cluster) applyPartition(i int) {
	n := c.Node(i)
	out := c.faults.outside(i)
	if n == nil || out == nil {
		return
	}
	var ids []peer.ID
	for _, j := range out {
		if id, err := c.peerID(j); err == nil {
			ids = append(ids, id)
		}
	}
	n.BlockPeers(ids...)
}

// peerID is node i's peer ID, running or not.
func (c *Cluster) peerID(i int) (peer.ID, error) {
	if n := c.Node(i); n != nil {
		return n.ID(), nil
	}
	return node.PeerIDOf(c.dirs[i])
}

// Heal ends a partition: every node lifts its blocks and dials the nodes of the other
// groups back.
func (c *Cluster) Heal(ctx context.Context) {
	group := c.faults.heal()
	var wg sync.WaitGroup
	for i, n := range c.snapshot() {
		if n == nil {
			continue
		}
		var dial []peer.AddrInfo
		for j, m := range c.snapshot() {
			if m != nil && group != nil && group[j] != group[i] {
				dial = append(dial, peer.AddrInfo{ID: m.ID(), Addrs: m.Host().Addrs()})
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.UnblockPeers(ctx, dial...)
		}()
	}
	wg.Wait()
}

// snapshot returns the nodes by index, nil where stopped.
func (c *Cluster) snapshot() []*node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*node.Node(nil), c.nodes...)
}

// Slow makes every task node i runs take d longer (0: normal speed), now and after restarts.
func (c *Cluster) Slow(i int, d time.Duration) {
	c.faults.setDelay(i, d)
	if n := c.Node(i); n != nil {
		n.SetTaskDelay(d)
	}
}

// reapplyFaults gives a node that just started the partition and slowness in force.
func (c *Cluster) reapplyFaults(i int) {
	c.applyPartition(i)
	if d := c.faults.delay(i); d > 0 {
		c.Node(i).SetTaskDelay(d)
	}
}
