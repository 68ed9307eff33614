package testnet

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"allforone/node"
)

// swarm is what a scenario runs on: daemon processes (a Harness) or nodes in this process
// (a Cluster). The runner talks to every node through its local API either way.
type swarm interface {
	Size() int
	running(i int) bool
	peerID(i int) string
	client(i int) (*node.Client, error)
	kill(i int) error
	restart(ctx context.Context, i int) error
	partition(ctx context.Context, groups [][]int) error
	heal(ctx context.Context) error
	slow(ctx context.Context, i int, d time.Duration) error
	waitAllKnown(ctx context.Context) error
	pssMiB(i int) (float64, bool)    // proportional set size of node i's process
	cpu(i int) (time.Duration, bool) // CPU time node i's processes used so far
	Close() error
}

// startSwarm starts sc's nodes: daemon processes of binary, or in this process when
// binary is empty.
func startSwarm(ctx context.Context, sc *Scenario, binary, dir string, logger *slog.Logger) (swarm, error) {
	slots := func(c *node.Config) {
		if sc.Slots > 0 {
			c.Slots = sc.Slots
		}
	}
	if binary == "" {
		cfg := ClusterConfig{N: sc.Nodes, Dir: dir, Swarm: "scenario", Logger: logger,
			Configure: func(_ int, c *node.Config) { slots(c) }}
		if sc.Private {
			key, err := node.NewSwarmKey()
			if err != nil {
				return nil, err
			}
			cfg.SwarmKey = key
		}
		c, err := StartCluster(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return clusterSwarm{c}, nil
	}
	h, err := StartHarness(ctx, HarnessConfig{Binary: binary, Dir: dir, N: sc.Nodes, Swarm: "scenario",
		Private: sc.Private, Configure: func(_ int, c *node.Config) { slots(c) }})
	if err != nil {
		return nil, err
	}
	return harnessSwarm{h}, nil
}

type harnessSwarm struct{ *Harness }

func (h harnessSwarm) running(i int) bool { return h.Proc(i).Running() }
func (h harnessSwarm) peerID(i int) string {
	if p := h.Proc(i); p != nil {
		return p.PeerID
	}
	return ""
}
func (h harnessSwarm) client(i int) (*node.Client, error) { return h.Proc(i).Client() }
func (h harnessSwarm) kill(i int) error                   { h.Kill(i); return nil }
func (h harnessSwarm) restart(ctx context.Context, i int) error {
	return h.Restart(ctx, i)
}
func (h harnessSwarm) partition(ctx context.Context, groups [][]int) error {
	return h.Partition(ctx, groups...)
}
func (h harnessSwarm) heal(ctx context.Context) error { return h.Heal(ctx) }
func (h harnessSwarm) slow(ctx context.Context, i int, d time.Duration) error {
	return h.Slow(ctx, i, d)
}
func (h harnessSwarm) waitAllKnown(ctx context.Context) error { return h.WaitAllKnown(ctx) }
func (h harnessSwarm) pssMiB(i int) (float64, bool) {
	p := h.Proc(i)
	if !p.Running() {
		return 0, false
	}
	m, err := procMemory(p.Pid())
	if err != nil {
		return 0, false
	}
	return m.PssMiB, true
}

func (h harnessSwarm) cpu(i int) (time.Duration, bool) { return h.CPU(i), true }

type clusterSwarm struct{ *Cluster }

func (c clusterSwarm) running(i int) bool { return c.Node(i) != nil }
func (c clusterSwarm) peerID(i int) string {
	id, err := c.Cluster.peerID(i)
	if err != nil {
		return ""
	}
	return id.String()
}
func (c clusterSwarm) client(i int) (*node.Client, error) {
	if c.Node(i) == nil {
		return nil, fmt.Errorf("node %d: %w", i, node.ErrDaemonNotRunning)
	}
	return node.NewClient(c.Dir(i))
}
func (c clusterSwarm) kill(i int) error                         { return c.Kill(i) }
func (c clusterSwarm) restart(ctx context.Context, i int) error { return c.Restart(ctx, i) }
func (c clusterSwarm) partition(_ context.Context, groups [][]int) error {
	return c.Partition(groups...)
}
func (c clusterSwarm) heal(ctx context.Context) error { c.Heal(ctx); return nil }
func (c clusterSwarm) slow(_ context.Context, i int, d time.Duration) error {
	c.Slow(i, d)
	return nil
}
func (c clusterSwarm) waitAllKnown(ctx context.Context) error { return c.WaitAllKnown(ctx) }
func (c clusterSwarm) pssMiB(int) (float64, bool)             { return 0, false }
func (c clusterSwarm) cpu(int) (time.Duration, bool)          { return 0, false }
