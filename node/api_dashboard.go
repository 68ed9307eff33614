package node

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"allforone/node/internal/api"
	"allforone/tasks"

	"github.com/prometheus/client_golang/prometheus/promhttp"
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
