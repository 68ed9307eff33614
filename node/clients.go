package node

import (
	"context"

	"allforone/protocol"
	"allforone/protocol/pb"
)

// The node talks to peers through the typed clients of package protocol, which check every
// answer against the wire contract, over a protocol.Caller: libp2p streams (stream.go)
// unless WithCaller gives another. Requests to this node itself are handled in-process.

// WithCaller makes the node send its steward and result requests through c instead of
// libp2p streams: a test's seam for watching or changing what goes over the wire.
func WithCaller(c protocol.Caller) Option { return func(n *Node) { n.caller = c } }

// startClients sets up the typed clients once the host is up.
func (n *Node) startClients() {
	if n.caller == nil {
		n.caller = streamCaller{n.host}
	}
	n.stewardClient = &protocol.StewardClient{Caller: n.caller, Swarm: n.cfg.Swarm, Self: n.id,
		Local: func(ctx context.Context, req *pb.StewardRequest) *pb.StewardResponse {
			return n.handleSteward(ctx, n.id, req)
		}}
	n.resultClient = &protocol.ResultClient{Caller: n.caller, Swarm: n.cfg.Swarm, Self: n.id,
		Local: func(ctx context.Context, req *pb.ResultRequest) *pb.ResultResponse {
			return n.handleResult(ctx, n.id, req)
		}}
}

// route is where requests for b's primary steward go first: the closest live steward.
func (n *Node) route(b *batch) protocol.Route {
	return protocol.Route{Batch: b.id, Manifest: b.raw, First: n.stewardsOf(b)[0]}
}
