package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"allforone/node/internal/api"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

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
