package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/operator"
	"allforone/node/internal/sandbox"
)

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
