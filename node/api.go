package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/api"
	"allforone/node/internal/p2p"
	"allforone/node/internal/store"
	"allforone/node/internal/submit"
	"allforone/tasks"
)

// startAPI serves the local API (node/internal/api) with the node's routes.
func (n *Node) startAPI() error {
	if err := ensureToken(n.cfg.DataDir); err != nil {
		return err
	}
	mux := http.NewServeMux()
	n.routes(mux)
	a, err := api.Start(api.Config{Addr: n.cfg.APIAddr, DataDir: n.cfg.DataDir,
		TLSCert: n.absPath(n.cfg.APITLSCert), TLSKey: n.absPath(n.cfg.APITLSKey),
		Handler: mux, Public: n.publicRequest, Log: n.logs.api})
	if err != nil {
		return err
	}
	n.api = a
	return nil
}

// APIAddr is host:port of the node's API; empty before Start.
func (n *Node) APIAddr() string {
	if n.api == nil {
		return ""
	}
	return n.api.Addr()
}

func (n *Node) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/id", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.IDInfo())
	})
	mux.HandleFunc("GET /api/v1/peers", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.Peers())
	})
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.Health())
	})
	mux.HandleFunc("GET /api/v1/blocklist", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.Blocklist())
	})
	mux.HandleFunc("GET /api/v1/trust", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, n.TrustRecords())
	})
	n.batchRoutes(mux)
	n.connectRoutes(mux)   // bootstrap.go: dial a peer by multiaddr or peer ID
	n.testingRoutes(mux)   // api_dashboard.go: fault injection for testnets
	n.dashboardRoutes(mux) // api_dashboard.go: dashboard data, metrics
	api.DebugRoutes(mux)   // Go profiles
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusNotFound, APIError{Error: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
}

// IDInfo describes this node.
func (n *Node) IDInfo() IDInfo {
	info := IDInfo{
		PeerID:  n.id.String(),
		Swarm:   n.cfg.Swarm,
		Private: n.cfg.SwarmKeyFile != "",
		Version: n.version,
		API:     n.APIAddr(),
		Addrs:   []string{},
		Relays:  []string{},
	}
	if n.host != nil {
		info.Reachability, info.DHTServer = n.Reachability(), n.ServesDHT()
		info.Relays = append(info.Relays, n.Relays()...)
		addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.id, Addrs: n.host.Addrs()})
		for _, a := range addrs {
			info.Addrs = append(info.Addrs, a.String())
		}
	}
	return info
}

// Peers lists the connected peers, sorted by peer ID.
func (n *Node) Peers() []PeerInfo {
	out := []PeerInfo{}
	if n.host == nil {
		return out
	}
	for _, p := range n.host.Network().Peers() {
		pi := PeerInfo{PeerID: p.String(), Addrs: []string{}, Relayed: true}
		for _, c := range n.host.Network().ConnsToPeer(p) {
			pi.Relayed = pi.Relayed && c.Stat().Limited
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr().String())
			if c.Stat().Direction == network.DirInbound {
				pi.Direction = "inbound"
			} else {
				pi.Direction = "outbound"
			}
		}
		if l := n.host.Peerstore().LatencyEWMA(p); l > 0 {
			pi.LatencyMS = float64(l) / float64(time.Millisecond)
		}
		if v, err := n.host.Peerstore().Get(p, "AgentVersion"); err == nil {
			pi.Agent, _ = v.(string)
		}
		pi.Incompatible, pi.IncompatibleReason = n.peerCompat(p) // p2p.Compatibility
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PeerID < out[j].PeerID })
	return out
}

// Health summarises whether the node is in its swarm.
func (n *Node) Health() Health {
	h := Health{PeerID: n.id.String(), DataLoss: n.DataLost()}
	if n.host == nil {
		return h
	}
	h.ConnectedPeers = len(n.host.Network().Peers())
	h.RoutingTableSize = n.RoutingTableSize()
	h.KnownPeers = len(n.KnownPeers())
	h.TopicPeers = n.TopicPeers()
	h.OK = true
	if n.api != nil {
		h.UptimeSeconds = time.Since(n.api.Started()).Seconds()
	}
	return h
}

// KnownPeers is the set of peers in the routing table or connected.
func (n *Node) KnownPeers() map[peer.ID]bool {
	known := make(map[peer.ID]bool)
	for _, p := range n.RoutingTablePeers() {
		known[p] = true
	}
	for _, p := range n.host.Network().Peers() {
		known[p] = true
	}
	return known
}

// absPath is p relative to the data dir, unless absolute.
func (n *Node) absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(n.cfg.DataDir, p)
}

// IncompatiblePeers lists the connected peers that speak allforone protocols but none of
// this node's: they run an incompatible version, or belong to another swarm. Each has
// Incompatible set and IncompatibleReason saying why and what to do. A peer counts once
// identify has told this node its protocols, a moment after it connects.
func (n *Node) IncompatiblePeers() []PeerInfo {
	out := []PeerInfo{}
	for _, p := range n.Peers() {
		if p.Incompatible {
			out = append(out, p)
		}
	}
	return out
}

// peerCompat judges a connected peer by the protocols it advertised.
func (n *Node) peerCompat(p peer.ID) (incompatible bool, reason string) {
	theirs, err := n.host.Peerstore().GetProtocols(p)
	if err != nil {
		return false, ""
	}
	return p2p.Compatibility(n.cfg.Swarm, theirs)
}

func (n *Node) batchRoutes(mux *http.ServeMux) {
	n.blobRoutes(mux) // below: uploads for submissions
	mux.HandleFunc("POST /api/v1/batches", func(w http.ResponseWriter, r *http.Request) {
		var req SubmitRequest
		if !api.DecodeJSON(w, r, api.MaxSubmitJSON, "submission", &req) {
			return
		}
		res, err := n.Submit(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /api/v1/batches", func(w http.ResponseWriter, r *http.Request) {
		out := n.Batches()
		if out == nil {
			out = []BatchInfo{}
		}
		api.WriteJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		st, err := n.Status(r.Context(), id)
		if err != nil {
			writeErr(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /api/v1/batches/{id}/fetch", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		if !api.NoBody(w, r) {
			return
		}
		rep, err := n.FetchResults(r.Context(), id)
		if err != nil {
			writeErr(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}/names", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		names, ok := n.OutputNames(r.Context(), id)
		if !ok {
			api.WriteJSON(w, http.StatusNotFound, APIError{Error: "this node did not submit batch " + id.String() + ": it has no names for its outputs (name them by task index)"})
			return
		}
		api.WriteJSON(w, http.StatusOK, names)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}/results/{task}", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		task, err := strconv.Atoi(r.PathValue("task"))
		if err != nil || task < 0 {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: "task must be a task index (0, 1, ...)"})
			return
		}
		out, err := n.ResultOutput(r.Context(), id, task)
		if err != nil {
			api.WriteJSON(w, http.StatusNotFound, APIError{Error: err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(out)
	})
}

// writeErr answers with the status that fits err.
func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, submit.ErrBad):
		status = http.StatusBadRequest
	case errors.Is(err, ErrUnknownBatch):
		status = http.StatusNotFound
	}
	api.WriteJSON(w, status, APIError{Error: err.Error()})
}

// Uploads: a client streams a module or an input to POST /api/v1/blobs (the raw bytes as
// the body), gets its content ID back, and names it in a submission. The body is hashed and
// stored in 1 MiB chunks as it arrives (tasks.BlobStore.PutReader), so an upload costs the
// daemon a few MiB whatever its size, where base64 JSON decoded and copied cost 5x.

// store.UnrefKey keeps, per blob that no batch refers to, since when this node knows it so
// (unix ms): set at upload and by the first garbage collection that finds the blob
// unreferenced. node/internal/gc (orphans.go) collects such a blob after Config.BlobGrace.

func (n *Node) blobRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/blobs", func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > tasks.MaxBlobSize {
			api.TooLarge(w, r, fmt.Sprintf("blob is %d bytes, over the %d byte limit", r.ContentLength, tasks.MaxBlobSize))
			return
		}
		info, err := n.PutBlob(r.Context(), http.MaxBytesReader(w, r.Body, tasks.MaxBlobSize))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig) || errors.Is(err, tasks.ErrBlobTooLarge):
			api.TooLarge(w, r, fmt.Sprintf("blob is over the %d byte limit", tasks.MaxBlobSize))
		case errors.Is(err, errBlobRead):
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
		case err != nil:
			api.WriteJSON(w, http.StatusInternalServerError, APIError{Error: err.Error()})
		default:
			api.WriteJSON(w, http.StatusOK, info)
		}
	})
}

// errBlobRead marks an upload that could not be read (the client went away, sent less
// than it declared).
var errBlobRead = errors.New("upload")

// PutBlob stores a blob read from r (at most tasks.MaxBlobSize bytes) as it arrives, in
// chunks, and returns its content ID. The blob belongs to no batch until a submission names
// it; garbage collection keeps it for Config.BlobGrace after its upload.
func (n *Node) PutBlob(ctx context.Context, r io.Reader) (BlobInfo, error) {
	ref, err := n.blobs.PutReader(ctx, r)
	if errors.Is(err, tasks.ErrBlobTooLarge) {
		return BlobInfo{}, err
	}
	if err != nil {
		return BlobInfo{}, fmt.Errorf("%w: %w", errBlobRead, err)
	}
	// The grace runs from the last upload of these bytes.
	stamp := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixMilli()))
	if err := n.ds.Put(ctx, store.UnrefKey(ref.CID), stamp); err != nil {
		return BlobInfo{}, fmt.Errorf("put blob %s: %w", ref.CID, err)
	}
	n.logs.api.Debug("blob uploaded", "cid", ref.CID.String(), "bytes", ref.Size)
	return BlobInfo{CID: ref.CID.String(), Size: int64(ref.Size)}, nil
}
