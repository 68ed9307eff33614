package node

import (
	"allforone/protocol"
	"allforone/protocol/pb"
)

// serveProtocols registers the handlers of the direct-stream protocols.
func (n *Node) serveProtocols() {
	serve(n, protocol.StewardProtocol(n.cfg.Swarm), protocol.MaxStewardMessage,
		func() *pb.StewardRequest { return &pb.StewardRequest{} }, n.handleSteward)
	serve(n, protocol.ResultProtocol(n.cfg.Swarm), protocol.MaxResultMessage,
		func() *pb.ResultRequest { return &pb.ResultRequest{} }, n.handleResult)
	n.serveBlobs()
}
