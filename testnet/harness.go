package testnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"allforone/node"

	"golang.org/x/sync/errgroup"
)

// HarnessConfig describes a testnet of `allforone daemon` processes on loopback.
type HarnessConfig struct {
	// Binary is the allforone executable to run.
	Binary string
	// Dir holds one data dir per node (node-00, ...) with its daemon.log.
	Dir string
	// N is the number of nodes; node 0 is the bootstrap node.
	N int
	// Swarm names the swarm; default "testnet".
	Swarm string
	// Private makes a private swarm: a new swarm key in Dir/swarm.key for every node.
	Private bool
	// DaemonArgs are extra arguments for every daemon.
	DaemonArgs []string
	// Env is extra environment for every process (e.g. GOMEMLIMIT=...).
	Env []string
	// Configure, when set, adjusts each node's saved config (config.json) after init.
	Configure func(i int, c *node.Config)
	// Wrap, when set, gives a command prefix for node i's processes, e.g.
	// ["ip", "netns", "exec", "home1"] to run it in a network namespace.
	Wrap func(i int) []string
	// Dial, when set, opens connections to node i's API (one inside its namespace).
	Dial func(i int) func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Harness is a running process testnet.
type Harness struct {
	cfg    HarnessConfig
	boot   string
	mu     sync.Mutex
	procs  []*Proc
	cpu    []time.Duration // CPU time of node i's processes that have exited
	faults faultState      // faults.go: partition and slow nodes, reapplied on Start
}

// Proc is one daemon process of a Harness.
type Proc struct {
	Index    int
	Dir      string
	PeerID   string
	API      string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	bootAddr string
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Running reports whether the process is still alive.
func (p *Proc) Running() bool {
	if p == nil || p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid is the operating system's process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Client is an API client for the process's daemon.
func (p *Proc) Client() (*node.Client, error) {
	c, err := node.NewClient(p.Dir)
	if err == nil && p.dial != nil {
		c.WithDialer(p.dial)
	}
	return c, err
}

// StartHarness initialises cfg.N data dirs and starts a daemon on each: node 0 first, then
// the rest in parallel bootstrapping from it. It returns when every API answers.
func StartHarness(ctx context.Context, cfg HarnessConfig) (*Harness, error) {
	if cfg.N < 1 {
		return nil, fmt.Errorf("testnet needs at least one node, got %d", cfg.N)
	}
	if cfg.Swarm == "" {
		cfg.Swarm = "testnet"
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	h := &Harness{cfg: cfg, procs: make([]*Proc, cfg.N), cpu: make([]time.Duration, cfg.N)}
	var keyArgs []string
	if cfg.Private {
		key, err := node.NewSwarmKey()
		if err != nil {
			return nil, err
		}
		path := filepath.Join(cfg.Dir, "swarm.key")
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return nil, err
		}
		keyArgs = []string{"--swarm-key", path}
	}
	for i := range cfg.N {
		dir := h.dataDir(i)
		args := append([]string{"--data", dir, "init", "--swarm", cfg.Swarm,
			"--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"}, keyArgs...)
		if out, err := h.command(i, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("init node %d: %v: %s", i, err, out)
		}
		if cfg.Configure != nil {
			if err := configure(dir, func(c *node.Config) { cfg.Configure(i, c) }); err != nil {
				return nil, fmt.Errorf("configure node %d: %w", i, err)
			}
		}
	}
	if err := h.Start(ctx, 0); err != nil {
		h.Close()
		return nil, err
	}
	h.boot = h.procs[0].bootAddr
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := 1; i < cfg.N; i++ {
		g.Go(func() error { return h.Start(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func (h *Harness) dataDir(i int) string { return filepath.Join(h.cfg.Dir, fmt.Sprintf("node-%02d", i)) }

// command is the binary with args, for node i (wrapped by cfg.Wrap).
func (h *Harness) command(i int, args ...string) *exec.Cmd {
	argv := append([]string{h.cfg.Binary}, args...)
	if h.cfg.Wrap != nil {
		argv = append(h.cfg.Wrap(i), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), h.cfg.Env...)
	cmd.SysProcAttr = childProcAttr()
	return cmd
}

// Start starts the daemon of node i (again, after Kill or Stop) and waits for its API.
func (h *Harness) Start(ctx context.Context, i int) error { return h.start(ctx, i) }

// start is Start with extra daemon arguments.
func (h *Harness) start(ctx context.Context, i int, extra ...string) error {
	dir := h.dataDir(i)
	args := []string{"--data", dir, "daemon", "--testnet-mode"}
	if i != 0 && h.boot != "" {
		args = append(args, "--bootstrap", h.boot)
	}
	args = append(args, h.cfg.DaemonArgs...)
	args = append(args, extra...)
	logf, err := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, node.APIFile)) // left over by a killed daemon
	cmd := h.command(i, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start node %d: %w", i, err)
	}
	p := &Proc{Index: i, Dir: dir, cmd: cmd, done: make(chan struct{})}
	if h.cfg.Dial != nil {
		p.dial = h.cfg.Dial(i)
	}
	go func() {
		cmd.Wait()
		logf.Close()
		if ps := cmd.ProcessState; ps != nil {
			h.mu.Lock()
			h.cpu[i] += ps.UserTime() + ps.SystemTime()
			h.mu.Unlock()
		}
		close(p.done)
	}()
	if err := p.waitAPI(ctx); err != nil {
		p.kill()
		return fmt.Errorf("node %d: %w (log: %s)", i, err, filepath.Join(dir, "daemon.log"))
	}
	h.mu.Lock()
	h.procs[i] = p
	h.mu.Unlock()
	if err := h.reapplyFaults(ctx, i); err != nil {
		return fmt.Errorf("node %d: %w", i, err)
	}
	return nil
}

// waitAPI polls the daemon's API until it answers, the process exits or ctx ends.
func (p *Proc) waitAPI(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		if c, err := p.Client(); err == nil {
			if info, err := c.ID(ctx); err == nil {
				p.PeerID, p.API = info.PeerID, info.API
				if len(info.Addrs) > 0 {
					p.bootAddr = info.Addrs[0]
				}
				return nil
			}
		}
		select {
		case <-p.done:
			return errors.New("daemon exited during start")
		case <-ctx.Done():
			return fmt.Errorf("daemon API not up: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Kill sends SIGKILL to node i and waits until it is gone: a crash, with no goodbye.
func (h *Harness) Kill(i int) {
	h.mu.Lock()
	p := h.procs[i]
	h.mu.Unlock()
	p.kill()
}

func (p *Proc) kill() {
	if p == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM to node i and waits for a graceful exit (SIGKILL after timeout).
func (h *Harness) Stop(i int, timeout time.Duration) error {
	h.mu.Lock()
	p := h.procs[i]
	h.mu.Unlock()
	if !p.Running() {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("node %d exited with code %d after SIGTERM", i, code)
		}
		return nil
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("node %d did not stop within %s of SIGTERM: killed; the end of its log:\n%s", i, timeout, h.logTail(i, 30))
	}
}

// logTail is the last n lines of node i's daemon.log.
func (h *Harness) logTail(i, n int) string {
	b, err := os.ReadFile(filepath.Join(h.dataDir(i), "daemon.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// CPU is the CPU time node i's daemon processes have used so far, the exited ones and the
// running one (read from /proc on Linux; elsewhere only exited processes count).
func (h *Harness) CPU(i int) time.Duration {
	h.mu.Lock()
	used, p := h.cpu[i], h.procs[i]
	h.mu.Unlock()
	if p.Running() {
		if d, err := procCPU(p.Pid()); err == nil {
			used += d
		}
	}
	return used
}

// Proc returns node i's process.
func (h *Harness) Proc(i int) *Proc {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.procs[i]
}

// Procs returns every node's process, running or not.
func (h *Harness) Procs() []*Proc {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*Proc(nil), h.procs...)
}

// WaitAllKnown waits until every running daemon knows every other running one.
func (h *Harness) WaitAllKnown(ctx context.Context) error {
	return WaitFor(ctx, "every daemon to know every other", func() bool {
		running := 0
		for _, p := range h.Procs() {
			if p.Running() {
				running++
			}
		}
		for _, p := range h.Procs() {
			if !p.Running() {
				continue
			}
			c, err := p.Client()
			if err != nil {
				return false
			}
			hc, err := c.Health(ctx)
			if err != nil || hc.KnownPeers < running-1 {
				return false
			}
		}
		return true
	})
}

// Close stops every daemon gracefully, in parallel.
func (h *Harness) Close() error {
	var wg sync.WaitGroup
	errs := make([]error, len(h.procs))
	for i := range h.procs {
		if h.Proc(i) == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.Stop(i, 15*time.Second)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// configure edits the saved config of the node in dir.
func configure(dir string, edit func(c *node.Config)) error {
	c, err := node.LoadConfig(dir)
	if err != nil {
		return err
	}
	edit(&c)
	if err := c.Validate(); err != nil {
		return err
	}
	return c.Save()
}
