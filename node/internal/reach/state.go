package reach

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
)

// State is what the node knows about its own reachability. Its methods are safe for
// concurrent use.
type State struct {
	reach     atomic.Int32 // network.Reachability
	dhtServer atomic.Bool  // the DHT serves: this node may be a steward or result holder
	since     atomic.Int64 // unix nanos of the last change of either
}

// Reachability is "public", "private" or "unknown".
func (s *State) Reachability() string {
	switch network.Reachability(s.reach.Load()) {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	}
	return "unknown"
}

// ServesDHT reports whether the node's DHT is in server mode: only then do other nodes
// count it as a steward or result holder.
func (s *State) ServesDHT() bool { return s.dhtServer.Load() }

// updateDHTServer reads the DHT's mode from the protocols h serves (kad only in server mode).
func (s *State) updateDHTServer(h host.Host, kad libp2pproto.ID, log *slog.Logger) {
	serving := slices.Contains(h.Mux().Protocols(), kad)
	if s.dhtServer.Swap(serving) != serving {
		s.since.Store(time.Now().UnixNano())
		log.Info("DHT mode changed", "server", serving, "reachability", s.Reachability())
	}
}

// Watch subscribes to AutoNAT's verdict and the DHT's mode (it switches between server and
// client as reachability changes), kad being the swarm DHT's protocol, and returns the loop
// that follows them into s until its context ends. Its owner runs and waits for it.
func (s *State) Watch(h host.Host, kad libp2pproto.ID, log *slog.Logger) (func(ctx context.Context), error) {
	sub, err := h.EventBus().Subscribe([]any{new(event.EvtLocalReachabilityChanged), new(event.EvtLocalProtocolsUpdated)})
	if err != nil {
		return nil, err
	}
	s.dhtServer.Store(slices.Contains(h.Mux().Protocols(), kad))
	return func(ctx context.Context) {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, open := <-sub.Out():
				if !open {
					return
				}
				if r, ok := ev.(event.EvtLocalReachabilityChanged); ok {
					if network.Reachability(s.reach.Swap(int32(r.Reachability))) != r.Reachability {
						s.since.Store(time.Now().UnixNano())
						log.Info("reachability changed", "reachability", s.Reachability())
					}
				}
				s.updateDHTServer(h, kad, log)
			}
		}
	}, nil
}

// Relays lists the relays h holds reservations on (from its relayed addresses).
func Relays(h host.Host) []string {
	var out []string
	for _, a := range h.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			continue
		}
		ma.ForEach(a, func(c ma.Component) bool {
			if c.Protocol().Code == ma.P_P2P {
				if s := c.Value(); !slices.Contains(out, s) {
					out = append(out, s)
				}
				return false
			}
			return true
		})
	}
	return out
}
