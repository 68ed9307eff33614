package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"allforone/node"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"
)

// ClusterConfig describes an in-process cluster.
type ClusterConfig struct {
	// N is the number of nodes, bootstrap nodes included.
	N int
	// Bootstraps is how many of the nodes the others bootstrap from. Default 1.
	Bootstraps int
	// Dir holds one data dir per node (node-00, node-01, ...).
	Dir string
	// Swarm names the swarm; default "test".
	Swarm string
	// SwarmKey, when set, makes the cluster a private swarm with this key (swarm.key format).
	SwarmKey []byte
	// Configure, when set, adjusts each node's config before it starts.
	Configure func(i int, c *node.Config)
	// Logger is the base logger; nodes tag it with their ID. Default: discard.
	Logger *slog.Logger
	// Options, when set, gives node i extra options (test hooks, for instance) every time
	// it starts.
	Options func(i int) []node.Option
}

// Cluster is N real nodes in this process, on 127.0.0.1 with their own data dirs.
type Cluster struct {
	cfg    ClusterConfig
	mu     sync.Mutex
	nodes  []*node.Node // nil where a node is stopped
	dirs   []string
	boot   []string   // bootstrap multiaddrs
	faults faultState // faults.go: partition and slow nodes, reapplied on Start
}

// StartCluster initialises and starts cfg.N nodes: the bootstrap nodes first, then the rest
// in parallel, each bootstrapping from the first ones.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.N < 1 {
		return nil, fmt.Errorf("cluster needs at least one node, got %d", cfg.N)
	}
	if cfg.Bootstraps < 1 {
		cfg.Bootstraps = 1
	}
	cfg.Bootstraps = min(cfg.Bootstraps, cfg.N)
	if cfg.Swarm == "" {
		cfg.Swarm = "test"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, nodes: make([]*node.Node, cfg.N), dirs: make([]string, cfg.N)}
	var keyPath string
	if cfg.SwarmKey != nil {
		keyPath = filepath.Join(cfg.Dir, "swarm.key")
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyPath, cfg.SwarmKey, 0o600); err != nil {
			return nil, err
		}
	}
	for i := range cfg.N {
		c.dirs[i] = filepath.Join(cfg.Dir, fmt.Sprintf("node-%02d", i))
		ncfg := c.baseConfig(i)
		if _, err := node.Init(ncfg, keyPath); err != nil {
			return nil, fmt.Errorf("init node %d: %w", i, err)
		}
	}
	for i := range cfg.Bootstraps {
		if err := c.Start(ctx, i); err != nil {
			c.Close()
			return nil, err
		}
		c.boot = append(c.boot, c.nodes[i].IDInfo().Addrs...)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := cfg.Bootstraps; i < cfg.N; i++ {
		g.Go(func() error { return c.Start(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) baseConfig(i int) node.Config {
	ncfg := node.TestConfig(c.dirs[i])
	ncfg.Swarm = c.cfg.Swarm
	if c.cfg.Configure != nil {
		c.cfg.Configure(i, &ncfg)
	}
	return ncfg
}

// Start starts node i (again) on its data dir, with its saved config, bootstrapping from
// the cluster's bootstrap nodes.
func (c *Cluster) Start(ctx context.Context, i int) error { return c.StartWith(ctx, i) }

// StartWith is Start with extra node options (test hooks, for instance).
func (c *Cluster) StartWith(ctx context.Context, i int, opts ...node.Option) error {
	ncfg, err := node.LoadConfig(c.dirs[i])
	if err != nil {
		return err
	}
	// Settings that are not saved in the config file.
	base := c.baseConfig(i)
	ncfg.UnlimitedResources = base.UnlimitedResources
	ncfg.GossipHeartbeat = base.GossipHeartbeat
	ncfg.TestingAPI = base.TestingAPI
	if i >= c.cfg.Bootstraps || len(c.boot) > 0 {
		ncfg.BootstrapPeers = append(append([]string(nil), base.BootstrapPeers...), c.bootstrapAddrs(i)...)
	}
	all := []node.Option{node.WithLogger(c.cfg.Logger.With("i", i))}
	if c.cfg.Options != nil {
		all = append(all, c.cfg.Options(i)...)
	}
	n, err := node.New(ncfg, append(all, opts...)...)
	if err != nil {
		return fmt.Errorf("node %d: %w", i, err)
	}
	if err := n.Start(ctx); err != nil {
		return fmt.Errorf("start node %d: %w", i, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	c.reapplyFaults(i)
	return nil
}

// bootstrapAddrs are the bootstrap addresses except node i's own.
func (c *Cluster) bootstrapAddrs(i int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var self peer.ID
	if c.nodes[i] != nil {
		self = c.nodes[i].ID()
	} else if id, err := node.PeerIDOf(c.dirs[i]); err == nil {
		self = id
	}
	var out []string
	for _, a := range c.boot {
		if info, err := peer.AddrInfoFromString(a); err == nil && info.ID == self {
			continue
		}
		out = append(out, a)
	}
	return out
}

// Stop closes node i gracefully; its data dir stays for Start.
func (c *Cluster) Stop(i int) error {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Close()
}

// Restart stops node i and starts it again on the same data dir.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if err := c.Stop(i); err != nil {
		return err
	}
	return c.Start(ctx, i)
}

// Node returns node i, or nil while it is stopped.
func (c *Cluster) Node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Nodes returns the running nodes.
func (c *Cluster) Nodes() []*node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node.Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// Dir is node i's data dir.
func (c *Cluster) Dir(i int) string { return c.dirs[i] }

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.dirs) }

// Close stops every node in parallel and returns their errors joined.
func (c *Cluster) Close() error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.dirs))
	for i := range c.dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Stop(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// WaitFor polls cond every 20ms until it is true or ctx ends.
func WaitFor(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Knows reports how many of the other running nodes n has in its routing table or is
// connected to.
func (c *Cluster) Knows(n *node.Node) int {
	known := n.KnownPeers()
	count := 0
	for _, m := range c.Nodes() {
		if m != n && known[m.ID()] {
			count++
		}
	}
	return count
}

// WaitAllKnown waits until every running node knows every other running node.
func (c *Cluster) WaitAllKnown(ctx context.Context) error {
	return WaitFor(ctx, "every node to know every other", func() bool {
		nodes := c.Nodes()
		for _, n := range nodes {
			if c.Knows(n) < len(nodes)-1 {
				return false
			}
		}
		return true
	})
}
