package protocol

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"
)

// Caller is the transport of the request/response protocols (README.md section 4.2): it
// sends req to p on pid and reads one answer, of at most limit bytes, into resp. Its
// errors are the transport's (no route, a reset stream, a timeout, an oversized or
// undecodable answer); the answer's own Error field is for the typed clients
// (StewardClient, ResultClient) to read. The node implements it over libp2p streams;
// FakeCaller is the one for tests.
type Caller interface {
	Call(ctx context.Context, p peer.ID, pid protocol.ID, limit int, req, resp proto.Message) error
}
