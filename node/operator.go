package node

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/gc"
	"allforone/node/internal/operator"
	"allforone/node/internal/p2p"
	"allforone/node/internal/sandbox"
	"allforone/tasks/steward"
)

// Pause is one preference that keeps the node from starting tasks now.
type Pause = operator.Pause

// prefsState is the node's live preferences and what they watch. The zero value is ready:
// the preferences come from the config on first use.
type prefsState struct {
	once     sync.Once
	mu       sync.RWMutex
	prefs    Prefs
	schedule operator.Schedule
	override func(*Prefs) // flags that win over the config file on reload

	cpu     *operator.BusyDetector
	battery func() (bool, error)
	now     func() time.Time
}

// WithPrefsOverride gives the preferences that command-line flags set, so that ReloadPrefs
// keeps them over what the config file says.
func WithPrefsOverride(f func(*Prefs)) Option { return func(n *Node) { n.op.prefs.override = f } }

func (n *Node) prefsInit() *prefsState {
	s := &n.op.prefs
	s.once.Do(func() {
		s.prefs = n.cfg.Prefs
		s.schedule, _ = operator.ParseSchedule(s.prefs.Schedule) // validated by Config.Validate
		if s.cpu == nil {
			s.cpu = operator.NewBusyDetector(operator.ProcCPU{Children: n.runnerCPU})
		}
		if s.now == nil {
			s.now = time.Now
		}
		if s.battery == nil {
			s.battery = operator.CachedBattery(operator.OnBattery, operator.BatteryTTL, s.now)
		}
	})
	return s
}

// Prefs returns the preferences in force.
func (n *Node) Prefs() Prefs {
	s := n.prefsInit()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.prefs
}

// SetPrefs validates p and puts it in force at once. It does not write the config file.
func (n *Node) SetPrefs(p Prefs) error {
	if err := p.Validate(); err != nil {
		return err
	}
	sched, _ := operator.ParseSchedule(p.Schedule)
	s := n.prefsInit()
	s.mu.Lock()
	s.prefs, s.schedule = p, sched
	s.mu.Unlock()
	n.wakeWorker()
	n.op.pause.Wake()
	n.kickGC()
	return nil
}

// ReloadPrefs reads the preferences from config.json again (keeping those that flags set)
// and puts them in force. It returns them. Slots and max_task_memory_mb are not reloaded:
// they take effect when the daemon restarts.
func (n *Node) ReloadPrefs() (Prefs, error) {
	c, err := LoadConfig(n.cfg.DataDir)
	if err != nil {
		return Prefs{}, err
	}
	if f := n.prefsInit().override; f != nil {
		f(&c.Prefs)
	}
	if err := n.SetPrefs(c.Prefs); err != nil {
		return Prefs{}, fmt.Errorf("config.json: %w", err)
	}
	n.logs.operator.Info("preferences reloaded")
	return c.Prefs, nil
}

// pauses lists the preferences that keep the node from starting tasks now.
func (n *Node) pauses() []Pause {
	s := n.prefsInit()
	s.mu.RLock()
	p, sched := s.prefs, s.schedule
	s.mu.RUnlock()
	var out []Pause
	now := s.now()
	if !sched.Allows(now) {
		next := sched.Next(now)
		out = append(out, Pause{Pref: "schedule",
			Reason: fmt.Sprintf("outside the hours set in the schedule %q (next start %s)", p.Schedule, next.Format("Mon 15:04")),
			Fix:    "wait, or widen the hours: allforone config set schedule \"\" (any time)"})
	}
	if p.CPUBusyPercent > 0 {
		if busy, others := s.cpu.Busy(now, time.Duration(p.CPUBusyWindow), float64(p.CPUBusyPercent)); busy {
			out = append(out, Pause{Pref: "cpu_busy_percent",
				Reason: fmt.Sprintf("other programs use %.0f%% of the CPU, over the %d%% set", others, p.CPUBusyPercent),
				Fix:    "it resumes when they calm down; or allow more: allforone config set cpu_busy_percent 90 (0 never pauses)"})
		}
	}
	if !p.RunOnBattery {
		if on, err := s.battery(); err == nil && on {
			out = append(out, Pause{Pref: "run_on_battery", Reason: "the machine runs on battery",
				Fix: "plug it in, or: allforone config set run_on_battery true"})
		}
	}
	if used, over := n.overQuota(); over {
		out = append(out, Pause{Pref: "disk_quota_mb",
			Reason: fmt.Sprintf("blobs and results use %s, over the disk quota of %d MiB, and nothing more can be collected", formatMiB(used), p.DiskQuotaMB),
			Fix:    "raise it: allforone config set disk_quota_mb N; results this node keeps as one of K holders are never collected"})
	}
	return out
}

// pauseReason says why the node must not start new tasks now ("" when it may).
func (n *Node) pauseReason() string {
	ps := n.pauses()
	if len(ps) == 0 {
		return ""
	}
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Reason)
	}
	return b.String()
}

// fitsMemory reports whether a task of m fits in the memory a task may use here.
func (n *Node) fitsMemory(memoryPages uint32) bool {
	return uint64(memoryPages)*65536 <= uint64(n.cfg.MaxTaskMemoryMB)<<20
}

func formatMiB(bytes int64) string {
	switch {
	case bytes >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(bytes)/(1<<30))
	case bytes >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", float64(bytes)/(1<<10))
	}
}

// operatorState is what the operator's features keep on a node: the live preferences
// (here), the activity record (operator.Record) and the garbage collector (gc.go). The
// zero value is ready.
type operatorState struct {
	prefs prefsState
	act   operator.Record
	gc    gc.Collector  // node/internal/gc; Start opens it
	pause sandbox.Pause // suspended tasks (node/internal/sandbox)

	finished sync.Map // batch ID -> finishedStatus, for the dashboard
}

// "Why am I idle?": the rules are package operator's (node/internal/operator/why.go), over a
// snapshot of the node that whyFacts takes.

type (
	// WhyReason is one reason the node is not computing, or not as much as it could.
	WhyReason = operator.WhyReason
	// WhyReport answers GET /api/v1/why and `allforone why`.
	WhyReport = operator.WhyReport
)

// Why says why the node is not computing right now.
func (n *Node) Why() WhyReport { return operator.DecideWhy(n.whyFacts()) }

func (n *Node) whyFacts() operator.WhyFacts {
	f := operator.WhyFacts{
		Bootstrap:    len(n.cfg.BootstrapPeers),
		Private:      n.cfg.SwarmKeyFile != "",
		Slots:        n.cfg.Slots,
		MaxMemoryMB:  n.cfg.MaxTaskMemoryMB,
		SyncInterval: time.Duration(n.cfg.SyncInterval),
		Pauses:       n.pauses(),
		Reachability: n.Reachability(),
		Relays:       len(n.Relays()),
		DataLoss:     n.DataLost(),
		Runner:       sandbox.Health(n.exec),
		Suspended:    n.op.pause.For(),
	}
	for _, p := range n.IncompatiblePeers() {
		f.Incompatible = append(f.Incompatible, shortID(peerIDOf(p.PeerID))+" ("+p.IncompatibleReason+")")
	}
	if n.host != nil {
		f.Peers = len(n.host.Network().Peers())
	}
	f.Running = n.op.act.Running()
	now := time.Now()
	for _, b := range n.listBatches() {
		stewardDone := n.stewardDone(b)
		b.mu.Lock()
		open := !b.workDone && now.Before(b.m.Deadline) && !stewardDone
		if b.refused != "" && now.Sub(b.refusedAt) < 2*refusedRetry {
			f.Distrusted = b.refused // stewards say so in their lease grants
		}
		waiting := ""
		if now.Sub(b.waitingLineAt) < 2*declineInterval {
			waiting = b.waitingLine
		}
		b.mu.Unlock()
		f.Batches = append(f.Batches, operator.WhyBatch{Name: b.m.Name, MemoryMB: int((b.m.Limits.MemoryPages + 15) / 16), Open: open, Waiting: waiting, Refused: b.refusedModule})
	}
	return f
}

// peerIDOf decodes a peer ID string, or returns it as it is.
func peerIDOf(s string) peer.ID {
	if id, err := peer.Decode(s); err == nil {
		return id
	}
	return peer.ID(s)
}

// gaugeState is the node as the metrics' gauges read it (metrics.State).
type gaugeState struct{ n *Node }

func (g gaugeState) Peers() int {
	if g.n.host == nil {
		return 0
	}
	return len(g.n.host.Network().Peers())
}

func (g gaugeState) ResultsHeld() int {
	g.n.held.mu.Lock()
	defer g.n.held.mu.Unlock()
	total := 0
	for _, m := range g.n.held.tasks {
		total += len(m)
	}
	return total
}

func (g gaugeState) BatchesKnown() int { return len(g.n.listBatches()) }

func (g gaugeState) BatchesStewarded() int {
	count := 0
	for _, b := range g.n.listBatches() {
		if g.n.stewardHere(b) {
			count++
		}
	}
	return count
}

func (g gaugeState) TasksRunning() int { return g.n.op.act.Running() }
func (g gaugeState) Slots() int        { return g.n.cfg.Slots }

func (g gaugeState) Usage() (blobs, results, quota int64) {
	u := g.n.Usage()
	return u.BlobBytes, u.ResultBytes, u.QuotaBytes
}

func (g gaugeState) Paused() bool { return g.n.ds != nil && g.n.pauseReason() != "" }

// Peers this node distrusts and blocks. The trust records are package trust's
// (node/internal/trust; the rule is tasks/steward's, the cores give the verdicts); here a
// peer that keeps lying is cut off: blocked for a while, after it heard why. The blocklist
// keeps peers that lied or spammed out for a while: the connection gater refuses them and
// existing connections are closed. It is visible in the API (GET /api/v1/blocklist).

const (
	// liarBlockTime is how long a liar is kept out.
	liarBlockTime = time.Hour
	// distrustedBlockAfter is how long after it is found out a liar is blocked, if it does
	// not ask for leases first (and hear why it gets none).
	distrustedBlockAfter = 10 * time.Second
)

// TrustRecord is one peer's record (the rule is in tasks/steward).
type TrustRecord = steward.TrustRecord

// blockLater blocks a liar after d (see caughtLying).
func (n *Node) blockLater(p peer.ID, d time.Duration) {
	n.goLoop("block", func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
			n.Block(p, liarBlockTime, "wrong results")
		}
	})
}

// TrustRecords lists this node's trust records.
func (n *Node) TrustRecords() []TrustRecord { return n.trust.List() }

// caughtLying handles peers whose result disagreed with an accepted one: the tasks they ran
// alone are checked again in every batch this node is primary of (the cores decide), and a
// peer that keeps lying is cut off.
func (n *Node) caughtLying(liars []peer.ID) {
	if len(liars) == 0 {
		return
	}
	liars = slices.Compact(slices.Sorted(slices.Values(liars)))
	n.goLoop("reverify", func(ctx context.Context) {
		n.wakePrimaries(ctx, "reverify") // dormant.go: finished batches' records are checked too
		for _, b := range n.listBatches() {
			if l := n.stewardOf(b); l != nil {
				for _, p := range liars {
					l.post(steward.Reverify{Peer: p})
				}
			}
		}
	})
	for _, p := range liars {
		if n.trust.Distrusted(p) {
			n.logs.trust.Warn("peer distrusted: its results keep disagreeing with the quorum", "peer", p.String())
			// Its next lease request hears why (LeaseGrant.refused) before the block; one
			// that does not ask is cut off a little later.
			n.blockLater(p, distrustedBlockAfter)
		}
	}
}

// BlockedPeer is one entry of the blocklist.
type BlockedPeer struct {
	PeerID string    `json:"peer_id"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
}

// Block keeps p out for d and disconnects it.
func (n *Node) Block(p peer.ID, d time.Duration, reason string) {
	if p == n.id {
		return
	}
	until := time.Now().Add(d)
	n.gater.Block(p, until, reason)
	if n.host != nil {
		n.host.Network().ClosePeer(p)
	}
	n.logs.trust.Warn("peer blocked", "peer", p.String(), "reason", reason, "until", until.Format(time.RFC3339))
}

// Blocklist lists the peers kept out now.
func (n *Node) Blocklist() []BlockedPeer {
	out := []BlockedPeer{}
	for p, until := range n.gater.List() {
		out = append(out, BlockedPeer{PeerID: p.String(), Reason: n.gater.Reason(p), Until: until})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PeerID < out[j].PeerID })
	return out
}

// allow reports whether p may make a request of kind now (p2p.Limiter); a peer that keeps
// hitting the limits is blocked.
func (n *Node) allow(p peer.ID, kind p2p.LimitKind) bool {
	if p == n.id {
		return true
	}
	ok, block := n.limits.Allow(p, kind)
	if block {
		n.Block(p, p2p.SpamBlockTime, "too many requests")
	}
	return ok
}
