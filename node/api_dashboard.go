package node

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"allforone/node/internal/api"
	"allforone/tasks"
	"allforone/tasks/steward"
)

// The dashboard: static assets (node/web, embedded) that carry no data and are served
// without the token, the data endpoints behind it, and Prometheus metrics.

//go:embed web
var webFS embed.FS

const (
	// dashBatches is how many batches (newest first) the dashboard asks progress for.
	dashBatches = 12
	// dashStatusTimeout bounds one progress query.
	dashStatusTimeout = 2 * time.Second
)

// dashboardRoutes registers the dashboard's data endpoints and the metrics endpoint.
func (n *Node) dashboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/dashboard", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.Dashboard(r.Context()))
	})
	mux.HandleFunc("GET /api/v1/activity", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.Activity())
	})
	mux.HandleFunc("GET /api/v1/why", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.Why())
	})
	mux.HandleFunc("GET /api/v1/prefs", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.prefsInfo())
	})
	mux.HandleFunc("POST /api/v1/prefs/reload", func(w http.ResponseWriter, r *http.Request) {
		if !api.NoBody(w, r) {
			return
		}
		if _, err := n.ReloadPrefs(); err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		api.WriteJSON(w, http.StatusOK, n.prefsInfo())
	})
	mux.HandleFunc("GET /api/v1/disk", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.Usage())
	})
	mux.HandleFunc("POST /api/v1/gc", func(w http.ResponseWriter, r *http.Request) {
		if !api.NoBody(w, r) {
			return
		}
		rep, err := n.CollectGarbage(r.Context())
		if err != nil {
			api.WriteJSON(w, http.StatusInternalServerError, APIError{Error: err.Error()})
			return
		}
		api.WriteJSON(w, http.StatusOK, rep)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))

	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	mux.Handle("GET /{$}", staticHeaders(files))
	mux.Handle("GET /ui/", staticHeaders(http.StripPrefix("/ui", files)))
	mux.Handle("GET /favicon.ico", staticHeaders(http.RedirectHandler("/ui/favicon.svg", http.StatusMovedPermanently)))
}

// staticHeaders keeps the page from being framed or loading anything from elsewhere.
func staticHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// publicRequest reports whether r may go without the API token: the dashboard's static
// assets (they carry no data), and /metrics when the operator made it public.
func (n *Node) publicRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	switch {
	case p == "/" || p == "/favicon.ico" || strings.HasPrefix(p, "/ui/"):
		return true
	case p == "/metrics":
		return n.Prefs().MetricsPublic
	}
	return false
}

func (n *Node) prefsInfo() PrefsInfo {
	return PrefsInfo{Prefs: n.Prefs(), Slots: n.cfg.Slots, MaxTaskMemoryMB: n.cfg.MaxTaskMemoryMB}
}

// Dashboard gathers what the dashboard shows.
func (n *Node) Dashboard(ctx context.Context) Dashboard {
	return Dashboard{
		Node: n.IDInfo(), Health: n.Health(), Peers: n.Peers(), Batches: n.dashBatches(ctx),
		Activity: n.Activity(), Why: n.Why(), Prefs: n.prefsInfo(), Usage: n.Usage(), Time: time.Now().UTC(),
	}
}

// dashBatches lists the known batches, newest first, with the progress of the newest
// ones. A finished batch's progress is remembered, so it is asked for once.
func (n *Node) dashBatches(ctx context.Context) []DashBatch {
	infos := n.Batches()
	slices.SortFunc(infos, func(a, b BatchInfo) int { return strings.Compare(b.Created, a.Created) })
	out := make([]DashBatch, len(infos))
	var wg sync.WaitGroup
	for i, info := range infos {
		out[i].BatchInfo = info
		if i >= dashBatches {
			continue
		}
		if v, ok := n.op.finished.Load(info.BatchID); ok && time.Since(v.(finishedStatus).at) < finishedStatusTTL {
			s := v.(finishedStatus).st
			out[i].Status = &s
			continue
		}
		b := n.getBatchByString(info.BatchID)
		if b == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, dashStatusTimeout)
			defer cancel()
			st, err := n.Status(sctx, b.id)
			if err != nil {
				out[i].StatusError = err.Error()
				return
			}
			out[i].Status = &st
			if st.State != tasks.BatchRunning {
				n.op.finished.Store(info.BatchID, finishedStatus{st, time.Now()})
			}
		}()
	}
	wg.Wait()
	return out
}

// finishedStatus is the remembered progress of a finished batch.
type finishedStatus struct {
	st BatchStatus
	at time.Time
}

// finishedStatusTTL is how long the dashboard shows a finished batch's remembered
// progress before asking again (its replica count may change).
const finishedStatusTTL = 30 * time.Second

func (n *Node) getBatchByString(id string) *batch {
	for _, b := range n.listBatches() {
		if b.id.String() == id {
			return b
		}
	}
	return nil
}

// Activity returns the tasks running here, the latest results and the tasks finished over
// the last ten minutes in ten-second buckets.
func (n *Node) Activity() Activity {
	a := n.op.act.Snapshot(time.Now(), 10*time.Minute, 10*time.Second)
	a.Slots = n.cfg.Slots
	return a
}

// The test-only fault-injection API. A testnet drives it to cut the swarm into partitions
// (without root: the connection gater refuses the other side's peers), to heal them, to
// make a node slow, and to see which results each node really holds. It is served only
// when Config.TestingAPI is set, which only testnets do (`daemon --testnet-mode`).
//
//	POST /api/v1/testing/partition  {"block": [peer IDs]}        -> TestingPeers
//	POST /api/v1/testing/heal       {"connect": [multiaddrs]}    -> TestingPeers
//	GET  /api/v1/testing/blocked                                 -> TestingPeers
//	POST /api/v1/testing/slow       {"delay_ms": N}              -> TestingSlow
//	GET  /api/v1/testing/held/{batch}                            -> TestingHeld
//	GET  /api/v1/testing/tasks/{batch}[?holders=3,17]            -> TestingTasks

// healDialTimeout bounds the redials after a heal.
const healDialTimeout = 10 * time.Second

// BlockPeers refuses connections to and from the given peers and closes the connections
// that exist: this node's side of a network partition. It lasts until UnblockPeers, or
// until the node stops (blocks are not saved).
func (n *Node) BlockPeers(ids ...peer.ID) {
	banned := n.gater.List()
	for _, p := range ids {
		if until, ok := banned[p]; p == n.id || ok && !until.IsZero() {
			continue // a timed ban already keeps it out, and must outlive the heal
		}
		n.gater.Block(p, time.Time{}, "")
	}
	for _, p := range ids {
		if p != n.id && n.host != nil {
			n.host.Network().ClosePeer(p)
		}
	}
}

// UnblockPeers lifts every block BlockPeers made (the partition heals; the blocklist's
// timed bans of misbehaving peers stay) and dials the given peers back, in parallel,
// skipping those already connected. It returns the peers it reached.
func (n *Node) UnblockPeers(ctx context.Context, dial ...peer.AddrInfo) []peer.ID {
	for _, p := range n.BlockedPeers() {
		n.gater.Unblock(p)
	}
	ctx, cancel := context.WithTimeout(ctx, healDialTimeout)
	defer cancel()
	var mu sync.Mutex
	var reached []peer.ID
	var wg sync.WaitGroup
	for _, ai := range dial {
		if ai.ID == n.id || n.host == nil {
			continue
		}
		if n.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
			if err := n.host.Connect(ctx, ai); err != nil {
				n.logs.api.Debug("heal: redial", "peer", shortID(ai.ID), "err", err)
				return
			}
			mu.Lock()
			reached = append(reached, ai.ID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return reached
}

// BlockedPeers lists the peers BlockPeers blocks now. They are the gater's entries without
// an end: the blocklist (Block) always bans for a while.
func (n *Node) BlockedPeers() []peer.ID {
	var out []peer.ID
	for p, until := range n.gater.List() {
		if until.IsZero() {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// HeldTasks lists the tasks of batch id whose results this node holds, sorted.
func (n *Node) HeldTasks(id cid.Cid) []int { return n.held.list(id) }

// StewardTasks returns this node's steward view of every task of batch id, with the holders'
// peer IDs for the tasks in withHolders; false when this node keeps no state for the batch.
func (n *Node) StewardTasks(id cid.Cid, withHolders ...int) (TestingTasks, bool) {
	b := n.getBatch(id)
	if b == nil {
		return TestingTasks{}, false
	}
	l, _ := n.wake(n.ctx, b, "status")
	if l == nil {
		return TestingTasks{}, false
	}
	var out TestingTasks
	err := l.inspect(n.ctx, func(s *steward.Steward) { out = testingTasks(id, b, s.State(), withHolders) })
	return out, err == nil
}

// PrimaryEpoch is the primary epoch this node holds for batch id now: 0 when it holds none
// or runs no steward of the batch (a dormant one is not woken). For tests and testnets that
// check one primary per batch.
func (n *Node) PrimaryEpoch(id cid.Cid) uint64 {
	b := n.getBatch(id)
	if b == nil {
		return 0
	}
	l := b.steward.Load()
	if l == nil || !l.primary.Load() {
		return 0
	}
	var e uint64
	if l.inspect(n.ctx, func(s *steward.Steward) { e = s.Epoch() }) != nil {
		return 0
	}
	return e
}

// testingTasks is st's view of every task, with the holders of withHolders.
func testingTasks(id cid.Cid, b *batch, st *tasks.BatchState, withHolders []int) TestingTasks {
	out := TestingTasks{BatchID: id.String(), Redundancy: int(b.m.Redundancy), Replication: int(b.m.Replication),
		Tasks: make([]TaskCounts, st.NumTasks())}
	for i := range out.Tasks {
		t := st.Task(i)
		c := TaskCounts{Status: t.Status().String(), Results: len(t.Results), Leases: len(t.Leases), Holders: len(t.Holders)}
		for _, l := range t.Leases {
			if l.Lost {
				c.Lost++
			}
		}
		out.Tasks[i] = c
	}
	for _, i := range withHolders {
		if i >= 0 && i < len(out.Tasks) {
			out.Tasks[i].HolderIDs = []string{}
			for _, h := range st.Task(i).Holders {
				out.Tasks[i].HolderIDs = append(out.Tasks[i].HolderIDs, h.String())
			}
		}
	}
	return out
}

// testingRoutes registers the test-only fault-injection API (partitions, slow nodes). It
// is served only when Config.TestingAPI is set, which only testnets do.
func (n *Node) testingRoutes(mux *http.ServeMux) {
	if !n.cfg.TestingAPI {
		return
	}
	mux.HandleFunc("POST /api/v1/testing/partition", func(w http.ResponseWriter, r *http.Request) {
		var req PartitionRequest
		if !readTestingBody(w, r, &req) {
			return
		}
		ids := make([]peer.ID, 0, len(req.Block))
		for _, s := range req.Block {
			p, err := peer.Decode(s)
			if err != nil {
				api.WriteJSON(w, http.StatusBadRequest, APIError{Error: fmt.Sprintf("block %q: not a peer ID: %v", s, err)})
				return
			}
			ids = append(ids, p)
		}
		n.BlockPeers(ids...)
		api.WriteJSON(w, http.StatusOK, n.testingPeers(nil))
	})
	mux.HandleFunc("POST /api/v1/testing/heal", func(w http.ResponseWriter, r *http.Request) {
		var req HealRequest
		if !readTestingBody(w, r, &req) {
			return
		}
		infos, err := ParseBootstrapPeers(req.Connect)
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		api.WriteJSON(w, http.StatusOK, n.testingPeers(n.UnblockPeers(r.Context(), infos...)))
	})
	mux.HandleFunc("GET /api/v1/testing/blocked", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.testingPeers(nil))
	})
	mux.HandleFunc("POST /api/v1/testing/slow", func(w http.ResponseWriter, r *http.Request) {
		var req SlowRequest
		if !readTestingBody(w, r, &req) {
			return
		}
		if req.DelayMS < 0 || req.DelayMS > int64(time.Hour/time.Millisecond) {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: fmt.Sprintf("delay_ms %d: use 0 to 3600000", req.DelayMS)})
			return
		}
		n.SetTaskDelay(time.Duration(req.DelayMS) * time.Millisecond)
		api.WriteJSON(w, http.StatusOK, TestingSlow{DelayMS: n.taskDelay().Milliseconds()})
	})
	mux.HandleFunc("GET /api/v1/testing/held/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		api.WriteJSON(w, http.StatusOK, TestingHeld{BatchID: id.String(), Tasks: n.HeldTasks(id)})
	})
	mux.HandleFunc("GET /api/v1/testing/tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		var holders []int
		if q := r.URL.Query().Get("holders"); q != "" {
			for _, s := range strings.Split(q, ",") {
				i, err := strconv.Atoi(s)
				if err != nil {
					api.WriteJSON(w, http.StatusBadRequest, APIError{Error: fmt.Sprintf("holders=%s: give task indexes separated by commas", q)})
					return
				}
				holders = append(holders, i)
			}
		}
		v, ok := n.StewardTasks(id, holders...)
		if !ok {
			api.WriteJSON(w, http.StatusNotFound, APIError{Error: fmt.Sprintf("this node keeps no steward state for batch %s: ask one of its stewards", id)})
			return
		}
		api.WriteJSON(w, http.StatusOK, v)
	})
}

func (n *Node) testingPeers(connected []peer.ID) TestingPeers {
	out := TestingPeers{Blocked: []string{}}
	for _, p := range n.BlockedPeers() {
		out.Blocked = append(out.Blocked, p.String())
	}
	for _, p := range connected {
		out.Connected = append(out.Connected, p.String())
	}
	return out
}

// readTestingBody decodes a small JSON body into v, answering 400 (or 413) when it cannot.
func readTestingBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return api.DecodeJSON(w, r, 1<<20, "request", v)
}
