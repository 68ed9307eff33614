package protocol

import (
	"context"
	"fmt"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ResultClient makes result-protocol requests (README.md section 12) through a Caller and
// checks every answer (ValidateResultResponse) before it returns it. Requests to Self go
// to Local, in-process, when it is set.
type ResultClient struct {
	Caller Caller
	Swarm  string
	Self   peer.ID
	Local  func(ctx context.Context, req *pb.ResultRequest) *pb.ResultResponse
}

// Send sends req to p and returns its answer: an error from the transport, from an answer
// that breaks the contract, or the answer's own error (a *WireError; the answer is returned
// with it).
func (c *ResultClient) Send(ctx context.Context, p peer.ID, req *pb.ResultRequest) (*pb.ResultResponse, error) {
	var resp *pb.ResultResponse
	if p == c.Self && c.Local != nil {
		resp = c.Local(ctx, req)
	} else {
		resp = &pb.ResultResponse{}
		if err := c.Caller.Call(ctx, p, ResultProtocol(c.Swarm), MaxResultMessage, req, resp); err != nil {
			return nil, err
		}
	}
	if err := ValidateResultResponse(resp, req); err != nil {
		return nil, fmt.Errorf("answer of holder %s: %w", p, err)
	}
	return resp, FromPB(resp.GetError())
}

// Store asks p to hold results of batch (section 12.2); manifest lets a holder that never
// heard of the batch check them. It returns the tasks of results that p holds now. The
// caller keeps each message under the limits (MaxResultsPerMessage, MaxOutputsPerMessage).
func (c *ResultClient) Store(ctx context.Context, p peer.ID, batch cid.Cid, manifest []byte, results []*pb.StoredResult, epoch uint64) ([]uint32, error) {
	req := &pb.ResultRequest{BatchId: batch.Bytes(), Body: &pb.ResultRequest_Store{Store: &pb.StoreResults{Manifest: manifest, Results: results, Epoch: epoch}}}
	resp, err := c.Send(ctx, p, req)
	return resp.GetHave(), err
}

// Fetch asks p for the accepted results of tasks of batch, with their outputs if
// withOutput. The answer may hold fewer (p stops at MaxOutputsPerMessage): ask again for
// the rest. Each result is the caller's to verify (section 12.1) before it uses it.
func (c *ResultClient) Fetch(ctx context.Context, p peer.ID, batch cid.Cid, tasks []uint32, withOutput bool) ([]*pb.StoredResult, error) {
	req := &pb.ResultRequest{BatchId: batch.Bytes(), Body: &pb.ResultRequest_Fetch{Fetch: &pb.FetchResults{Tasks: tasks, WithOutput: withOutput}}}
	resp, err := c.Send(ctx, p, req)
	return resp.GetResults(), err
}

// Have asks p which of tasks of batch it holds results of.
func (c *ResultClient) Have(ctx context.Context, p peer.ID, batch cid.Cid, tasks []uint32) ([]uint32, error) {
	req := &pb.ResultRequest{BatchId: batch.Bytes(), Body: &pb.ResultRequest_Have{Have: &pb.HaveResults{Tasks: tasks}}}
	resp, err := c.Send(ctx, p, req)
	return resp.GetHave(), err
}
