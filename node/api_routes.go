package node

import (
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"allforone/node/internal/api"
	"allforone/node/internal/p2p"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
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
	n.connectRoutes(mux)   // connect.go: dial a peer by multiaddr or peer ID
	n.testingRoutes(mux)   // api_testing.go: fault injection for testnets
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
