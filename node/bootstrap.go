package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"allforone/node/internal/api"
	"allforone/node/internal/p2p"
	"allforone/node/internal/reach"
	"allforone/node/internal/rendezvous"
	"allforone/node/internal/store"
	"allforone/protocol"
)

// Bootstrap keeps the node in its swarm, as Kubo's bootstrapper does: at start and whenever
// fewer than BootstrapFloor peers are connected, it dials the configured bootstrap peers
// (and the peers it knew when it last ran), each with its own exponential backoff, then
// refreshes the DHT routing table.

const (
	maxBootstrapBackoff = 5 * time.Minute
	bootstrapDialTime   = 10 * time.Second
	maxBackupPeers      = 32
)

type backoffState struct {
	next  time.Time
	delay time.Duration
}

func (n *Node) bootstrapLoop(ctx context.Context) {
	peers, _ := ParseBootstrapPeers(n.cfg.BootstrapPeers) // validated in New
	peers = mergeAddrInfos(append(peers, n.loadBackupPeers(ctx)...))
	backoff := make(map[peer.ID]*backoffState)
	interval := time.Duration(n.cfg.BootstrapInterval)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	saveEvery := 10
	for round := 0; ; round++ {
		switch {
		case len(n.host.Network().Peers()) < n.cfg.BootstrapFloor:
			// Under the floor, also refresh when no dial was needed: in a small
			// swarm, peers that joined at the same moment learn of each other only
			// through a later lookup.
			n.dialBootstrap(ctx, peers, backoff, interval)
			n.refreshRoutingTable(ctx, bootstrapDialTime)
		case round&(round+1) == 0 && round < 64:
			// Joining: refresh at rounds 1, 3, 7, 15, 31, 63 so that peers that
			// joined after our first lookups are found in seconds, not at the
			// next periodic refresh.
			n.refreshRoutingTable(ctx, bootstrapDialTime)
		}
		if round%saveEvery == saveEvery-1 {
			n.saveBackupPeers(ctx)
		}
		select {
		case <-ctx.Done():
			n.saveBackupPeers(context.Background())
			return
		case <-tick.C:
		}
	}
}

// dialBootstrap dials, in parallel, the bootstrap peers that are not connected and whose
// backoff has passed. It returns how many connected.
func (n *Node) dialBootstrap(ctx context.Context, peers []peer.AddrInfo, backoff map[peer.ID]*backoffState, base time.Duration) int {
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for _, pi := range peers {
		if pi.ID == n.id || n.host.Network().Connectedness(pi.ID) == network.Connected {
			continue
		}
		b := backoff[pi.ID]
		if b == nil {
			b = &backoffState{delay: base}
			backoff[pi.ID] = b
		}
		if now.Before(b.next) {
			continue
		}
		wg.Add(1)
		go func(pi peer.AddrInfo, b *backoffState) {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, bootstrapDialTime)
			defer cancel()
			err := n.host.Connect(dctx, pi)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// Exponential backoff with jitter, so a swarm does not redial a
				// recovering bootstrap node in lockstep.
				jitter := time.Duration(rand.Int64N(int64(b.delay)/4 + 1))
				b.next = time.Now().Add(b.delay + jitter)
				b.delay = min(2*b.delay, maxBootstrapBackoff)
				n.logs.p2p.Debug("bootstrap dial failed", "peer", pi.ID.String(), "err", err, "retry_in", b.delay)
				return
			}
			b.delay, b.next = base, time.Time{}
			ok++
			n.host.ConnManager().TagPeer(pi.ID, "bootstrap", 10)
		}(pi, b)
	}
	wg.Wait()
	return ok
}

// mergeAddrInfos lists each peer once, with the addresses of all its entries: a bootstrap
// peer is often a backup peer too, and two dials of one peer would share its backoff.
func mergeAddrInfos(in []peer.AddrInfo) []peer.AddrInfo {
	var out []peer.AddrInfo
	at := make(map[peer.ID]int)
	for _, pi := range in {
		i, ok := at[pi.ID]
		if !ok {
			at[pi.ID] = len(out)
			out = append(out, peer.AddrInfo{ID: pi.ID})
			i = len(out) - 1
		}
		for _, a := range pi.Addrs {
			if !slices.ContainsFunc(out[i].Addrs, a.Equal) {
				out[i].Addrs = append(out[i].Addrs, a)
			}
		}
	}
	return out
}

// saveBackupPeers remembers some connected peers and their addresses, so a restarted node
// can rejoin even when its bootstrap peers are gone.
func (n *Node) saveBackupPeers(ctx context.Context) {
	var infos []peer.AddrInfo
	for _, p := range n.host.Network().Peers() {
		addrs := n.host.Peerstore().Addrs(p)
		if len(addrs) == 0 {
			continue
		}
		infos = append(infos, peer.AddrInfo{ID: p, Addrs: addrs})
		if len(infos) == maxBackupPeers {
			break
		}
	}
	if len(infos) == 0 {
		return
	}
	b, err := json.Marshal(infos)
	if err != nil {
		return
	}
	if err := n.ds.Put(ctx, datastore.NewKey(store.BackupPeersKey), b); err != nil {
		n.logs.p2p.Debug("save backup peers", "err", err)
	}
}

func (n *Node) loadBackupPeers(ctx context.Context) []peer.AddrInfo {
	b, err := n.ds.Get(ctx, datastore.NewKey(store.BackupPeersKey))
	if err != nil {
		return nil
	}
	var infos []peer.AddrInfo
	if err := json.Unmarshal(b, &infos); err != nil {
		n.logs.p2p.Warn("ignoring unreadable backup peer list", "err", err)
		return nil
	}
	for _, pi := range infos {
		n.host.Peerstore().AddAddrs(pi.ID, pi.Addrs, peerstore.TempAddrTTL)
	}
	return infos
}

// startRendezvous starts the opt-in rendezvous through the public IPFS DHT
// (node/internal/rendezvous) when the config asks for it. Its loop owns the public DHT and
// its host, and closes both when the node's context ends (Close waits).
func (n *Node) startRendezvous() {
	if !n.cfg.NAT.PublicRendezvous {
		return
	}
	n.goLoop("rendezvous", func(ctx context.Context) {
		boot, err := ParseBootstrapPeers(n.cfg.NAT.RendezvousBootstrap) // validated in New
		psk, kerr := p2p.LoadSwarmKey(n.cfg.SwarmKeyPath())
		if err := errors.Join(err, kerr); err != nil {
			n.logs.rendezvous.Warn("public rendezvous not started", "err", err)
			return
		}
		interval := time.Duration(n.cfg.BootstrapInterval)
		rendezvous.Run(ctx, rendezvous.Config{Identity: n.sk, Addrs: n.host.Addrs, Swarm: n.cfg.Swarm, PSK: psk,
			Bootstrap: boot, Version: n.version, Interval: interval, Floor: n.cfg.BootstrapFloor, Log: n.logs.rendezvous},
			&rendezvousSwarm{n: n, backoff: make(map[peer.ID]*backoffState), interval: interval})
	})
}

// rendezvousSwarm is what the rendezvous does to this node's swarm: peers it finds are
// dialled as bootstrap peers are, each with its own backoff.
type rendezvousSwarm struct {
	n        *Node
	backoff  map[peer.ID]*backoffState // the rendezvous loop's only
	interval time.Duration
}

func (s *rendezvousSwarm) Peers() int { return len(s.n.host.Network().Peers()) }

func (s *rendezvousSwarm) Dial(ctx context.Context, peers []peer.AddrInfo) int {
	if len(s.backoff) > 4*rendezvous.MaxFound {
		clear(s.backoff) // forget peers long gone rather than grow without bound
	}
	return s.n.dialBootstrap(ctx, peers, s.backoff, s.interval)
}

func (s *rendezvousSwarm) Learned(ctx context.Context) {
	s.n.refreshRoutingTable(ctx, bootstrapDialTime)
}

// NATs are package reach's (node/internal/reach): the settings, the libp2p options and
// the node's own reachability. This file gives it the swarm's peers and answers for it.

// reachPeers is reach.Peers over this node.
type reachPeers struct{ n *Node }

func (r reachPeers) IsSwarmPeer(p peer.ID) bool { return r.n.isSwarmPeer(p) }
func (r reachPeers) RelayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	return r.n.relayCandidates(ctx, num)
}

// isSwarmPeer reports whether p told us (identify) that it speaks this swarm's protocols.
func (n *Node) isSwarmPeer(p peer.ID) bool {
	if !n.up.Load() { // libp2p may call before Start has stored n.host
		return false
	}
	ok, _ := n.host.Peerstore().SupportsProtocols(p, protocol.StewardProtocol(n.cfg.Swarm))
	return len(ok) > 0
}

// relayCandidates is AutoRelay's peer source: connected swarm peers that offer a relay
// first, then the rest of the swarm peers and the bootstrap peers (AutoRelay checks them).
func (n *Node) relayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, num)
	defer close(out)
	if !n.up.Load() {
		return out
	}
	var first, rest []peer.ID
	for _, p := range n.host.Network().Peers() {
		if !n.isSwarmPeer(p) {
			continue
		}
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, reach.HopProtocol); len(ok) > 0 {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	ids := append(first, rest...)
	boot, _ := ParseBootstrapPeers(n.cfg.BootstrapPeers)
	for _, b := range boot {
		if !slices.Contains(ids, b.ID) && b.ID != n.id {
			n.host.Peerstore().AddAddrs(b.ID, b.Addrs, time.Hour)
			ids = append(ids, b.ID)
		}
	}
	for _, p := range ids {
		if len(out) == num || ctx.Err() != nil {
			break
		}
		out <- peer.AddrInfo{ID: p, Addrs: n.host.Peerstore().Addrs(p)}
	}
	return out
}

// Reachability is "public", "private" or "unknown".
func (n *Node) Reachability() string { return n.reachSt.Reachability() }

// ServesDHT reports whether the node's DHT is in server mode: only then do other nodes
// count it as a steward or result holder.
func (n *Node) ServesDHT() bool { return n.reachSt.ServesDHT() }

// Relays lists the relays this node holds reservations on (from its relayed addresses).
func (n *Node) Relays() []string {
	if n.host == nil {
		return nil
	}
	return reach.Relays(n.host)
}

// kadProtocol is the ID of the swarm DHT's protocol, served only in server mode.
func (n *Node) kadProtocol() libp2pproto.ID { return protocol.DHTPrefix(n.cfg.Swarm) + "/kad/1.0.0" }

// watchReachability follows AutoNAT's verdict and the DHT's mode (reach.State.Watch).
func (n *Node) watchReachability() error {
	loop, err := n.reachSt.Watch(n.host, n.kadProtocol(), n.logs.reach)
	if err != nil {
		return err
	}
	n.goLoop("reachability", loop)
	return nil
}

// ErrBadTarget means a connect target is neither a multiaddr with a peer ID nor a peer ID
// (or is this node itself): fix the target rather than the network.
var ErrBadTarget = errors.New("bad connect target")

// Connect dials a peer by multiaddr or peer ID (found through the DHT; a peer behind a NAT
// is found at its relayed address, and hole punching then tries a direct connection, twice
// if need be). It returns the peer as Peers shows it.
func (n *Node) Connect(ctx context.Context, target string) (PeerInfo, error) {
	target = strings.TrimSpace(target)
	var ai peer.AddrInfo
	if strings.HasPrefix(target, "/") {
		m, err := ma.NewMultiaddr(target)
		if err != nil {
			return PeerInfo{}, fmt.Errorf("%w: %q is not a multiaddr (%v): use /ip4/1.2.3.4/tcp/4501/p2p/<peer ID> or a bare peer ID", ErrBadTarget, target, err)
		}
		p, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return PeerInfo{}, fmt.Errorf("%w: %q has no /p2p/<peer ID> part: append it, or give only the peer ID", ErrBadTarget, target)
		}
		ai = *p
	} else {
		id, err := peer.Decode(target)
		if err != nil {
			return PeerInfo{}, fmt.Errorf("%w: %q is neither a multiaddr nor a peer ID (%v): use /ip4/1.2.3.4/tcp/4501/p2p/<peer ID> or a bare peer ID", ErrBadTarget, target, err)
		}
		if id == n.id {
			return PeerInfo{}, fmt.Errorf("%w: that is this node's own peer ID", ErrBadTarget)
		}
		if ai, err = n.FindPeer(ctx, id); err != nil {
			return PeerInfo{}, fmt.Errorf("look up %s in the DHT: %w (is it online and in this swarm?)", shortID(id), err)
		}
	}
	if ai.ID == n.id {
		return PeerInfo{}, fmt.Errorf("%w: that is this node's own peer ID", ErrBadTarget)
	}
	// A peer behind a NAT may only be reachable over a relay; allow a limited connection.
	ctx = network.WithAllowLimitedConn(ctx, "connect")
	if err := n.host.Connect(ctx, ai); err != nil {
		return PeerInfo{}, fmt.Errorf("connect to %s: %w (is it running? one behind a NAT is reachable only once it holds a relay reservation: `allforone id` on it lists a /p2p-circuit address)", shortID(ai.ID), err)
	}
	// Relayed only: the peer, which got our relayed connection, starts hole punching. If
	// that fails (timing under load; a symmetric NAT), dial once more through the relay:
	// a fresh relayed connection starts a fresh attempt.
	if n.onlyLimited(ai.ID) && !n.waitDirect(ctx, ai.ID, 10*time.Second) {
		for _, c := range n.host.Network().ConnsToPeer(ai.ID) {
			c.Close()
		}
		if err := n.host.Connect(ctx, ai); err != nil {
			return PeerInfo{}, fmt.Errorf("connect to %s again through a relay: %w", shortID(ai.ID), err)
		}
		n.waitDirect(ctx, ai.ID, 10*time.Second)
	}
	for _, p := range n.Peers() {
		if p.PeerID == ai.ID.String() {
			return p, nil
		}
	}
	return PeerInfo{PeerID: ai.ID.String()}, nil
}

func (n *Node) connectRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/peers/connect", func(w http.ResponseWriter, r *http.Request) {
		var req ConnectRequest
		if !api.DecodeJSON(w, r, api.MaxSmallBody, `connect request (want {"target": "<multiaddr or peer ID>"})`, &req) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		p, err := n.Connect(ctx, req.Target)
		switch {
		case errors.Is(err, ErrBadTarget):
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		case err != nil: // the target is fine; reaching it failed
			api.WriteJSON(w, http.StatusBadGateway, APIError{Error: err.Error()})
			return
		}
		api.WriteJSON(w, http.StatusOK, p)
	})
}

// onlyLimited reports whether every connection to p is limited (relayed).
func (n *Node) onlyLimited(p peer.ID) bool {
	conns := n.host.Network().ConnsToPeer(p)
	for _, c := range conns {
		if !c.Stat().Limited {
			return false
		}
	}
	return len(conns) > 0
}

// waitDirect waits up to d for a direct connection to p and reports whether there is one.
func (n *Node) waitDirect(ctx context.Context, p peer.ID, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for n.onlyLimited(p) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return len(n.host.Network().ConnsToPeer(p)) > 0
}
