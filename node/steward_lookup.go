package node

import (
	"context"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/membership"
	"allforone/protocol"
	"allforone/tasks/placement"
	"allforone/tasks/steward"
)

// Roles by DHT lookup (protocol/README.md section 8, issue 16). Under primary leases a
// batch's steward loop looks the batch ID up with kad-dht's GetClosestPeers, which
// converges on the same K closest servers from anywhere in the swarm, and steps the result
// into its core (steward.Lookup): the stewards, the voting set and the hints (with the
// addresses the lookup found) come from it instead of from the peers this node happens to
// be connected to. A lookup is done again when it is stale (placement.Lookup.Stale: ten
// minutes old, empty, or a member of the set found unreachable, which a departure marks).
//
// A server that an earlier lookup found and that cannot be reached now stays in the result
// for membership.Remember, closest-first among the others: a lookup on the far side of a
// partition does not find the stewards cut off from it, and the voting set must still
// count them (protocol/README.md 10.12). A lookup that finds nothing leaves the view's
// stewards in place (the core falls back to them) and is tried again within seconds.

// lookupTimeout bounds one lookup of a batch ID.
const lookupTimeout = 10 * time.Second

// lookupState is a loop's lookup of its batch. Owned by the loop goroutine.
type lookupState struct {
	last    *placement.Lookup
	running bool
	missing map[peer.ID]time.Time // servers found before and not since, unreachable: since when
}

// maybeLookup starts a lookup of the batch ID when primary leases are on and the last one
// is stale. Runs in the loop goroutine; the result is stepped in there too.
func (l *stewardLoop) maybeLookup(ctx context.Context) {
	if !l.n.cfg.PrimaryLeases || l.look.running || l.n.dht == nil {
		return
	}
	k := max(l.n.stewardCount(l.b), steward.MinVoters) // the voting set's size
	if l.look.last != nil {
		if stale, _ := l.look.last.Stale(k, l.clock()); !stale {
			return
		}
	}
	l.look.running = true
	l.effects.Add(1)
	go func() {
		defer l.effects.Done()
		found := l.n.lookupServers(ctx, l.b.id)
		if len(found) <= 1 && l.n.swarmExpected() {
			// Only this node: its routing table is empty (it has just started and not yet
			// reached its bootstrap peers). As a lookup it would make a voting set of one
			// that this node wins alone; as none, the core waits (Fence.AwaitLookup) and
			// the lookup is made again within placement.EmptyLookupRetry.
			found = nil
		}
		if len(found) == 0 && !l.n.swarmExpected() {
			// Alone, and not serving the DHT (a client-mode node): it is its own steward.
			found = []placement.PeerInfo{{ID: l.n.id}}
		}
		l.postFn(func(c *steward.Steward) {
			l.look.running = false
			l.look.last = l.remembered(found, l.clock())
			l.log.Debug("stewards looked up", "found", len(found), "set", shortIDs(l.look.last.Set(k)))
			c.Step(steward.Lookup{Result: l.look.last})
		})
	}()
}

// remembered is the lookup made of found and the servers known before that it did not find
// and that are not connected now, for membership.Remember from when they were first
// missed: those of the last lookup, or before the first one those of the view's voting
// set (its members that left are remembered by membership), so the switch from the view's
// set to the lookup's does not drop a steward that just crashed.
func (l *stewardLoop) remembered(found []placement.PeerInfo, now time.Time) *placement.Lookup {
	var before []placement.PeerInfo
	if l.look.last != nil {
		before = l.look.last.Found()
	} else {
		k := max(l.n.stewardCount(l.b), steward.MinVoters)
		for _, p := range l.n.liveView().KnownClosest(l.b.id, k) {
			before = append(before, placement.PeerInfo{ID: p})
		}
	}
	if l.look.missing == nil {
		l.look.missing = make(map[peer.ID]time.Time)
	}
	for _, p := range before {
		if slices.ContainsFunc(found, func(q placement.PeerInfo) bool { return q.ID == p.ID }) || l.n.live(p.ID) {
			delete(l.look.missing, p.ID)
			continue
		}
		since, ok := l.look.missing[p.ID]
		if !ok {
			since = now
			l.look.missing[p.ID] = now
		}
		if now.Sub(since) < membership.Remember {
			found = append(found, p) // NewLookup orders them by distance
		} else {
			delete(l.look.missing, p.ID)
		}
	}
	res := placement.NewLookup(l.b.id, found, now)
	for p := range l.look.missing {
		res = res.Unreachable(p, now)
	}
	return res
}

// lookedUpLeft marks a peer that left unreachable in the loop's lookup, so the next tick
// looks the batch up again when it was one of the set. Runs in the loop goroutine.
func (l *stewardLoop) lookedUpLeft(in steward.Input) {
	left, ok := in.(steward.Left)
	if !ok || l.look.last == nil {
		return
	}
	if u := l.look.last.Unreachable(left.Peer, left.Now); u != l.look.last {
		l.look.last = u
		l.core.Step(steward.Lookup{Result: u})
	}
}

// swarmExpected reports whether this node is meant to be in a swarm with others: it has
// bootstrap peers or is connected to a peer. A node with neither is alone, and a lookup
// that finds only itself is the truth.
func (n *Node) swarmExpected() bool {
	return len(n.cfg.BootstrapPeers) > 0 || len(n.host.Network().Peers()) > 0
}

// shortIDs are ps as the logs name peers.
func shortIDs(ps []peer.ID) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = shortID(p)
	}
	return out
}

// postFn runs fn on the core in the loop goroutine, without waiting for it; dropped when
// the loop has stopped.
func (l *stewardLoop) postFn(fn func(*steward.Steward)) {
	select {
	case l.inbox <- loopMsg{fn: fn, ran: make(chan struct{})}:
	case <-l.quit:
	}
}

// lookupServers finds the swarm's DHT servers closest to id that serve the steward
// protocol, with their addresses, this node among them when it serves the DHT. An error
// gives what was found before it (often nothing): the caller's lookup is then empty, and
// stale within placement.EmptyLookupRetry.
func (n *Node) lookupServers(ctx context.Context, id cid.Cid) []placement.PeerInfo {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ids, err := n.dht.GetClosestPeers(ctx, string(id.Bytes()))
	if err != nil {
		n.logs.steward.Debug("lookup of the batch's stewards", "batch", id.String(), "found", len(ids), "err", err)
	}
	net := memberNet{n}
	var out []placement.PeerInfo
	if net.ServesDHT() {
		out = append(out, placement.PeerInfo{ID: n.id, Addrs: n.host.Addrs()})
	}
	steward := protocol.StewardProtocol(n.cfg.Swarm)
	for _, p := range ids {
		// A server of this swarm's DHT whose protocols this node has not learnt yet (it
		// was only queried) counts: dropping it made lookups differ from node to node.
		// One known not to serve the steward protocol does not.
		if protos, _ := n.host.Peerstore().GetProtocols(p); p != n.id && (len(protos) == 0 || slices.Contains(protos, steward)) {
			out = append(out, placement.PeerInfo{ID: p, Addrs: n.host.Peerstore().Addrs(p)})
		}
	}
	return out
}
