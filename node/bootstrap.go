package node

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"allforone/node/internal/p2p"
	"allforone/node/internal/rendezvous"
	"allforone/node/internal/store"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
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
