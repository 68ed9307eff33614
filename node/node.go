package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	pebbleds "github.com/ipfs/go-ds-pebble"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"allforone/tasks"
)

// Node is one allforone peer. Create it with New, run it with Start, stop it with Close.
type Node struct {
	cfg     Config
	log     *slog.Logger
	sk      crypto.PrivKey
	id      peer.ID
	version string
	gater   *gater
	reachSt reachState // reach.go

	departMu   sync.Mutex
	departedAt map[peer.ID]time.Time // members that left, for RepairGrace (keyspace.go)
	reg        *prometheus.Registry

	// Set by Start, read-only afterwards.
	lock   *flock.Flock
	ds     *pebbleds.Datastore
	host   host.Host
	dht    *dht.IpfsDHT
	ps     *pubsub.PubSub
	topics map[string]*pubsub.Topic // joined swarm topics; they end with n.ctx
	api    *apiServer
	blobs  *tasks.BlobStore
	exec   sandbox // sandbox.go: the runner pool

	metrics    *metrics
	op         operatorState // prefs, activity, garbage collection (operator.go)
	hooks      TestHooks
	extraDelay atomic.Int64 // SetTaskDelay

	batchMu sync.Mutex
	batches map[string]*batch // by batch ID key

	trust        trustStore
	limits       limiter
	blockMu      sync.Mutex
	blockReasons map[peer.ID]string

	announcedMu sync.Mutex
	announced   map[string]bool // batches whose announcement passed the validator
	held        heldSet

	slots       chan struct{} // a token per running task
	slotFreed   chan struct{}
	workWake    chan struct{}
	disconnects chan peer.ID
	peerLeft    chan peer.ID
	rr, rrSync  int // round-robin positions (work loop, sync loop only)

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
	upgraded, err := upgradeDataDir(cfg.DataDir) // datadir.go
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
		batches:      make(map[string]*batch),
		announced:    make(map[string]bool),
		blockReasons: make(map[peer.ID]string),
		limits:       limiter{peers: make(map[peer.ID]*peerLimits)},
		held:         heldSet{tasks: make(map[string]map[int]bool)},
		slots:        make(chan struct{}, cfg.Slots),
		slotFreed:    make(chan struct{}, 1),
		workWake:     make(chan struct{}, 1),
		disconnects:  make(chan peer.ID, 1024),
		peerLeft:     make(chan peer.ID, 1),
		cfg:          cfg,
		log:          slog.New(slog.DiscardHandler),
		sk:           sk,
		id:           id,
		version:      "dev",
		gater:        newGater(),
		reg:          prometheus.NewRegistry(),
		closeDone:    make(chan struct{}),
	}
	for _, o := range opts {
		o(n)
	}
	n.metrics = newMetrics(n.reg)
	n.registerGauges(n.reg)
	n.log = n.log.With("node", shortID(id))
	if upgraded.To != 0 {
		n.log.Info("data dir upgraded", "from", upgraded.From, "to", upgraded.To, "backup", upgraded.Backup)
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
	psk, err := loadSwarmKey(n.cfg.SwarmKeyPath())
	if err != nil {
		return err
	}
	if err := n.openDatastore(); err != nil {
		return err
	}
	n.blobs = tasks.NewBlobStore(n.ds)
	if n.exec, err = n.newSandbox(); err != nil {
		return err
	}
	if n.host, err = newHost(&n.cfg, n.sk, psk, n.gater, n.reg, n.version, n); err != nil {
		return err
	}
	if err := n.startDHT(); err != nil {
		return err
	}
	if err := n.watchReachability(); err != nil {
		return err
	}
	if err := n.loadBatches(ctx); err != nil {
		return fmt.Errorf("load batches from the datastore: %w", err)
	}
	if err := n.loadTrust(ctx); err != nil {
		return fmt.Errorf("load trust records from the datastore: %w", err)
	}
	if err := n.loadHeld(ctx); err != nil {
		return fmt.Errorf("load results from the datastore: %w", err)
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
	n.startRendezvous() // rendezvous.go: opt-in, through the public IPFS DHT; ends with n.ctx
	n.goLoop("peers", n.peerLoop)
	n.goLoop("work", n.workLoop)
	n.goLoop("pause", n.pauseLoop) // sandbox.go: suspends running tasks while prefs pause work
	n.goLoop("repair", n.repairLoop)
	n.goLoop("sync", n.syncLoop)
	n.goLoop("housekeeping", n.housekeepingLoop) // gc.go: CPU samples for prefs, garbage collection
	n.up.Store(true)
	n.log.Info("node started", "peer_id", n.id.String(), "swarm", n.cfg.Swarm,
		"private", psk != nil, "addrs", n.host.Addrs(), "api", n.api.addr)
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
	l, err := lockDataDir(n.cfg.DataDir)
	if err != nil {
		return err
	}
	n.lock = l
	path := filepath.Join(n.cfg.DataDir, "datastore")
	d, err := pebbleds.NewDatastore(path)
	if err != nil {
		return fmt.Errorf("open datastore %s: %w", path, err)
	}
	n.ds = d
	return nil
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
	if n.up.Load() {
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
		errs = append(errs, n.api.close())
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
		errs = append(errs, n.ds.Close())
	}
	if n.lock != nil {
		errs = append(errs, n.lock.Unlock())
	}
	n.closeErr = errors.Join(errs...)
	if n.started {
		n.log.Info("node stopped")
	}
	return n.closeErr
}

// shortID is the last 6 characters of a peer ID, for logs.
func shortID(id peer.ID) string {
	s := id.String()
	if len(s) > 6 {
		return s[len(s)-6:]
	}
	return s
}
