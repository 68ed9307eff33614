package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"allforone/node/internal/api"
	"allforone/node/internal/durable"
	"allforone/node/internal/membership"
	"allforone/node/internal/metrics"
	"allforone/node/internal/p2p"
	"allforone/node/internal/reach"
	"allforone/node/internal/sandbox"
	"allforone/node/internal/store"
	"allforone/node/internal/trust"
	"allforone/protocol"
	"allforone/tasks"
)

// verifiedRecords is how many checked result-record signatures a node remembers (32 bytes
// each: 2 MiB).
const verifiedRecords = 1 << 16

// Node is one allforone peer. Create it with New, run it with Start, stop it with Close.
type Node struct {
	cfg     Config
	log     *slog.Logger // tagged with the node; every subsystem logs through logs
	logs    subLogs
	sk      crypto.PrivKey
	id      peer.ID
	version string
	gater   *p2p.Gater  // the blocklist, and testnets' partitions
	reachSt reach.State // node/internal/reach; bootstrap.go

	mem      *membership.Members    // the swarm's members as a view (p2p.go)
	verified *tasks.VerifiedRecords // result records whose signatures were checked
	reg      *prometheus.Registry

	// Set by Start, read-only afterwards.
	lock   *flock.Flock
	ds     *store.Store
	health *store.Health // corruption pebble reports (store/store.go)
	host   host.Host
	dht    *dht.IpfsDHT
	ps     *pubsub.PubSub
	topics map[string]*pubsub.Topic // joined swarm topics; they end with n.ctx
	api    *api.Server              // node/internal/api; the routes are api_*.go
	blobs  *tasks.BlobStore
	exec   sandbox.Sandbox // node/internal/sandbox: the runner pool
	// caller carries steward and result requests (WithCaller, or streams); the clients
	// use it (stream.go).
	caller        protocol.Caller
	stewardClient *protocol.StewardClient
	resultClient  *protocol.ResultClient

	durable durable.Points // node/internal/durable: sync points and what was lost
	fatal   func(error)    // WithFatalHandler
	failMu  sync.Mutex     // guards failErr
	failErr error          // why the node failed; set before failed is closed
	failed  chan struct{}  // closed by fail

	metrics    *metrics.Metrics // node/internal/metrics; the gauges read gaugeState (operator.go)
	op         operatorState    // prefs, activity, garbage collection (operator.go)
	hooks      TestHooks
	extraDelay atomic.Int64 // SetTaskDelay

	batchMu sync.Mutex
	batches map[string]*batch // by batch ID key

	trust  *trust.Records   // node/internal/trust; set by Start
	clock  func() time.Time // the steward driver's (WithClock); time.Now
	limits *p2p.Limiter     // per-peer rate limits

	announcedMu sync.Mutex
	announced   map[string]bool // batches whose announcement passed the validator
	held        heldSet

	slots       chan struct{} // a token per running task
	slotFreed   chan struct{}
	workWake    chan struct{}
	disconnects chan peer.ID
	peerLeft    chan peer.ID
	gone        departures // peers that left, for the repair loop (repair.go)
	rr, rrSync  int        // round-robin positions (work loop, sync loop only)

	ctx    context.Context // cancelled by Close; the lifetime of every goroutine and of pubsub
	cancel context.CancelFunc
	// workCtx is the lifetime of running tasks: a graceful stop ends it first.
	workCtx    context.Context
	workCancel context.CancelFunc
	draining   atomic.Bool // a graceful stop is under way: take no new leases
	up         atomic.Bool // Start completed: a stop can be graceful
	wg         sync.WaitGroup
	runMu      sync.RWMutex // guards stopping against wg.Add
	stopping   bool

	mu        sync.Mutex
	started   bool
	closed    bool
	closeErr  error
	closeDone chan struct{}
}

// Option customises a Node at construction: injected seams only.
type Option func(*Node)

// WithLogger sets the node's logger; the default discards logs.
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.log = l } }

// WithFatalHandler sets what happens when the datastore fails in a way pebble cannot go
// on from (a failed write of its log or MANIFEST, a broken invariant): f gets the error
// and must not return; the daemon prints it and exits. The default panics.
func WithFatalHandler(f func(error)) Option { return func(n *Node) { n.fatal = f } }

// WithVersion sets the version the node reports to peers and on its API.
func WithVersion(v string) Option { return func(n *Node) { n.version = v } }

// New checks cfg and loads the node's identity from the data dir. It starts nothing.
func New(cfg Config, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data dir %s: %w (run `allforone init --data %s` first)", cfg.DataDir, err, cfg.DataDir)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("data dir %s is not a directory: choose another --data", cfg.DataDir)
	}
	upgraded, err := store.UpgradeDataDir(cfg.DataDir) // store/datadir.go
	if err != nil {
		return nil, err
	}
	sk, err := LoadIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	n := &Node{
		batches:     make(map[string]*batch),
		announced:   make(map[string]bool),
		limits:      p2p.NewLimiter(),
		held:        heldSet{tasks: make(map[string]map[int]heldResult)},
		verified:    tasks.NewVerifiedRecords(verifiedRecords),
		slots:       make(chan struct{}, cfg.Slots),
		slotFreed:   make(chan struct{}, 1),
		workWake:    make(chan struct{}, 1),
		disconnects: make(chan peer.ID, 1024),
		peerLeft:    make(chan peer.ID, 1),
		cfg:         cfg,
		log:         slog.New(slog.DiscardHandler),
		sk:          sk,
		id:          id,
		version:     "dev",
		gater:       p2p.NewGater(),
		reg:         prometheus.NewRegistry(),
		closeDone:   make(chan struct{}),
		failed:      make(chan struct{}),
		fatal:       func(err error) { panic(err) },
		clock:       time.Now,
	}
	for _, o := range opts {
		o(n)
	}
	n.metrics = metrics.New(n.reg)
	metrics.RegisterGauges(n.reg, gaugeState{n})
	n.log = n.log.With("node", shortID(id))
	n.logs = newSubLogs(n.log)
	n.mem = n.newMembers()
	if upgraded.To != 0 {
		n.logs.node.Info("data dir upgraded", "from", upgraded.From, "to", upgraded.To, "backup", upgraded.Backup)
	}
	return n, nil
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.id }

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// Host is the libp2p host; nil before Start.
func (n *Node) Host() host.Host { return n.host }

// DHT is the node's Kademlia DHT; nil before Start.
func (n *Node) DHT() *dht.IpfsDHT { return n.dht }

// Registry is the node's Prometheus registry.
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// Start brings the node up. On failure it undoes what it started.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	if n.started || n.closed {
		n.mu.Unlock()
		return errors.New("node: Start called twice or after Close")
	}
	n.started = true
	n.mu.Unlock()

	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.workCtx, n.workCancel = context.WithCancel(n.ctx)
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	psk, err := p2p.LoadSwarmKey(n.cfg.SwarmKeyPath())
	if err != nil {
		return err
	}
	if err := n.openDatastore(); err != nil {
		return err
	}
	n.blobs = tasks.NewBlobStore(n.ds)
	n.op.gc.Open(n.ds, n.blobs, gcNode{n}, n.Prefs, time.Duration(n.cfg.BlobGrace), n.logs.gc)
	if n.exec, err = n.newSandbox(); err != nil {
		return err
	}
	if n.host, err = p2p.NewHost(p2p.HostConfig{ListenAddrs: n.cfg.ListenAddrs, ConnLow: n.cfg.ConnLow,
		ConnHigh: n.cfg.ConnHigh, UnlimitedResources: n.cfg.UnlimitedResources, Identity: n.sk, PSK: psk,
		Gater: n.gater, Registry: n.reg, Version: n.version, Extra: reach.Options(&n.cfg.NAT, reachPeers{n})}); err != nil {
		return err
	}
	n.startClients()
	if err := n.startDHT(); err != nil {
		return err
	}
	if err := n.watchReachability(); err != nil {
		return err
	}
	if err := n.watchMembers(); err != nil {
		return err
	}
	// Before the batches: their steward cores read the trust records.
	n.trust = trust.New(n.ds, shortID(n.id), n.logs.trust, time.Now)
	if err := n.trust.Load(ctx); err != nil {
		return n.loadError("trust records", err)
	}
	if err := n.loadBatches(ctx); err != nil {
		return n.loadError("batches", err)
	}
	if err := n.loadHeld(ctx); err != nil {
		return n.loadError("results", err)
	}
	// go-ds-pebble ends a query quietly at a corrupt block: what pebble reported counts.
	if err := n.loadError("", nil); err != nil {
		return err
	}
	if err := n.durable.Check(ctx); err != nil { // node/internal/durable: lost writes
		return err
	}
	n.serveProtocols()
	n.watchPeers()
	if err := n.startPubsub(); err != nil {
		return err
	}
	if err := n.startAPI(); err != nil {
		return err
	}
	n.goLoop("bootstrap", n.bootstrapLoop)
	n.startRendezvous() // bootstrap.go: opt-in, through the public IPFS DHT; ends with n.ctx
	n.goLoop("peers", n.peerLoop)
	n.goLoop("work", n.workLoop)
	n.goLoop("decline", n.declineLoop) // batches.go
	n.goLoop("pause", n.pauseLoop)     // worker.go: suspends running tasks while prefs pause work
	n.goLoop("repair", n.repairLoop)
	n.goLoop("sync", n.syncLoop)
	n.goLoop("housekeeping", n.housekeepingLoop) // gc.go: CPU samples for prefs, garbage collection
	n.goLoop("durable", n.durable.Loop)          // periodic sync points
	n.goLoop("store-health", n.watchStore)       // corruption found while running
	if n.DataLost() != nil {
		n.goLoop("resync", n.resync) // repair.go: fetch again what was lost
	}
	n.up.Store(true)
	n.logs.node.Info("node started", "peer_id", n.id.String(), "swarm", n.cfg.Swarm,
		"private", psk != nil, "addrs", n.host.Addrs(), "api", n.api.Addr())
	return nil
}

// goLoop runs f in a goroutine owned by the node: Close cancels n.ctx and waits for it.
// Once Close has begun it runs nothing and returns false.
func (n *Node) goLoop(name string, f func(ctx context.Context)) bool {
	if !n.enter() {
		return false
	}
	go func() {
		defer n.wg.Done()
		f(n.ctx)
	}()
	return true
}

// enter registers one unit of work with the node's WaitGroup, unless Close has begun.
// Every enter that returns true is paired with n.wg.Done.
func (n *Node) enter() bool {
	n.runMu.RLock()
	defer n.runMu.RUnlock()
	if n.stopping {
		return false
	}
	n.wg.Add(1)
	return true
}

func (n *Node) openDatastore() error {
	l, err := store.LockDataDir(n.cfg.DataDir)
	if err != nil {
		return err
	}
	n.lock = l
	if c := store.ReadCorruptMark(n.cfg.DataDir); c != nil { // found by an earlier run
		return c
	}
	n.health = store.NewHealth(n.cfg.DataDir, n.logs.store, n.fatal)
	d, err := store.Open(n.cfg.DataDir, n.health, false) // node/internal/store
	if err != nil {
		return err
	}
	n.ds = d
	n.durable.Open(d, n.cfg.DataDir, n.storeCounts, n.logs.store)
	return nil
}

// loadError is the error of loading what from the datastore at Start: the corruption
// pebble reported meanwhile, if any, else err.
func (n *Node) loadError(what string, err error) error {
	if c := n.health.First(); c != nil {
		c.Found = time.Time{}
		return c
	}
	if err != nil {
		return fmt.Errorf("load %s from the datastore: %w", what, err)
	}
	return nil
}

// watchStore stops the node's work when pebble finds corruption while it runs: a node
// whose datastore lies would serve wrong or missing state to the swarm, while a node that
// leaves is replaced (the next closest peers take its roles and re-replicate). It marks the
// datastore, so the next start refuses it until `allforone repair` has checked it.
func (n *Node) watchStore(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-n.health.Seen():
	}
	c := n.health.First()
	if err := store.MarkCorrupt(n.cfg.DataDir, c); err != nil {
		n.logs.node.Warn("mark the datastore corrupt", "err", err)
	}
	n.logs.node.Error("datastore is corrupt: the node stops", "file", c.File, "detail", c.Detail, "fix", RepairAdvice(n.cfg.DataDir))
	n.fail(c)
}

// fail records why the node cannot go on, stops taking work and closes Failed.
func (n *Node) fail(err error) {
	n.failMu.Lock()
	defer n.failMu.Unlock()
	if n.failErr != nil {
		return
	}
	n.failErr = err
	n.draining.Store(true)
	close(n.failed)
}

// Failed is closed when the node cannot go on (its datastore turned out corrupt); Err says
// why. Its owner should Close it: the node takes no new work meanwhile.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is why the node failed, or nil.
func (n *Node) Err() error {
	n.failMu.Lock()
	defer n.failMu.Unlock()
	return n.failErr
}

// Close stops the node: it cancels every loop and waits for it, then closes the API,
// pubsub, the DHT, the host and the datastore in that order. It is safe to call more
// than once and from several goroutines; every call returns the same error.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		<-n.closeDone
		return n.closeErr
	}
	n.closed = true
	n.mu.Unlock()
	defer close(n.closeDone)
	if n.up.Load() && n.Err() == nil {
		// A failed node does not drain: its datastore is suspect (and a read of a corrupt
		// block can take pebble seconds). Its peers take over its roles as for a crash.
		n.drain()
	}

	var errs []error
	n.runMu.Lock()
	n.stopping = true
	n.runMu.Unlock()
	if n.cancel != nil {
		n.cancel() // stops the loops and gossipsub (which has no Close)
	}
	if n.api != nil {
		errs = append(errs, n.api.Close())
	}
	n.wg.Wait()
	if n.exec != nil {
		errs = append(errs, n.exec.Close(context.Background()))
	}
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	if n.host != nil {
		errs = append(errs, n.host.Close())
	}
	if n.ds != nil {
		if n.up.Load() && n.Err() == nil {
			// A clean stop is a sync point: the next start checks against it.
			if err := n.durable.Sync(context.Background(), true); err != nil {
				n.logs.node.Warn("last datastore sync", "err", err)
			}
		}
		errs = append(errs, n.ds.Close())
	}
	if n.lock != nil {
		errs = append(errs, n.lock.Unlock())
	}
	n.closeErr = errors.Join(errs...)
	if n.started {
		n.logs.node.Info("node stopped")
	}
	return n.closeErr
}

// subLogs are the node's loggers, one per subsystem, each tagged with the node and
// the subsystem ("sub"), so that a log of many nodes can be filtered by either.
type subLogs struct {
	node, store, p2p, reach, rendezvous, api, batches, blobs, worker, sandbox,
	steward, results, trust, operator, gc *slog.Logger
}

func newSubLogs(l *slog.Logger) subLogs {
	s := func(name string) *slog.Logger { return l.With("sub", name) }
	return subLogs{node: s("node"), store: s("store"), p2p: s("p2p"), reach: s("reach"),
		rendezvous: s("rendezvous"), api: s("api"), batches: s("batches"), blobs: s("blobs"),
		worker: s("worker"), sandbox: s("sandbox"), steward: s("steward"), results: s("results"),
		trust: s("trust"), operator: s("operator"), gc: s("gc")}
}

// shortID is the last 6 characters of a peer ID, for logs.
func shortID(id peer.ID) string {
	s := id.String()
	if len(s) > 6 {
		return s[len(s)-6:]
	}
	return s
}
