package node

import (
	"allforone/protocol"
	"allforone/protocol/pb"
)

// serveProtocols registers the handlers of the direct-stream protocols. Every request is
// checked against the protocol's shape rules (protocol.Validate*) before its handler sees
// it.
func (n *Node) serveProtocols() {
	serve(n, protocol.StewardProtocol(n.cfg.Swarm), service[*pb.StewardRequest, *pb.StewardResponse]{
		max:      protocol.MaxStewardMessage,
		newReq:   func() *pb.StewardRequest { return &pb.StewardRequest{} },
		validate: protocol.ValidateStewardRequest,
		reject:   func(err error) *pb.StewardResponse { return &pb.StewardResponse{Error: protocol.ToPB(err)} },
		handle:   n.handleSteward,
	})
	serve(n, protocol.ResultProtocol(n.cfg.Swarm), service[*pb.ResultRequest, *pb.ResultResponse]{
		max:      protocol.MaxResultMessage,
		newReq:   func() *pb.ResultRequest { return &pb.ResultRequest{} },
		validate: protocol.ValidateResultRequest,
		reject:   func(err error) *pb.ResultResponse { return &pb.ResultResponse{Error: protocol.ToPB(err)} },
		handle:   n.handleResult,
	})
	n.serveBlobs()
}
