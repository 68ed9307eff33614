package protocol

import (
	"context"
	"errors"
	"fmt"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// StewardClient makes steward-protocol requests (README.md section 10) through a Caller
// and checks every answer (ValidateStewardResponse) before it returns it. Requests to Self
// go to Local, in-process, when it is set: a node is often its own steward.
type StewardClient struct {
	Caller Caller
	Swarm  string
	Self   peer.ID
	Local  func(ctx context.Context, req *pb.StewardRequest) *pb.StewardResponse
}

// Route is where a request for the primary steward of a batch goes first, and the batch's
// signed manifest, handed to a steward that answers UNKNOWN_BATCH (section 10.3).
type Route struct {
	Batch    cid.Cid
	Manifest []byte
	First    peer.ID // the closest live steward in the caller's view
}

// Send sends req to p and returns its answer: an error from the transport, from an answer
// that breaks the contract, or the answer's own error (a *WireError; the answer is returned
// with it).
func (c *StewardClient) Send(ctx context.Context, p peer.ID, req *pb.StewardRequest) (*pb.StewardResponse, error) {
	var resp *pb.StewardResponse
	if p == c.Self && c.Local != nil {
		resp = c.Local(ctx, req)
	} else {
		resp = &pb.StewardResponse{}
		if err := c.Caller.Call(ctx, p, StewardProtocol(c.Swarm), MaxStewardMessage, req, resp); err != nil {
			return nil, err
		}
	}
	if err := ValidateStewardResponse(resp, req); err != nil {
		return nil, fmt.Errorf("answer of steward %s: %w", p, err)
	}
	return resp, FromPB(resp.GetError())
}

// ToPrimary sends req to the primary steward of r.Batch, starting with r.First: it follows
// NOT_STEWARD hints (at most MaxRedirects) and, once, hands the batch (Adopt) to a steward
// other than Self that does not know it, then asks it again. It returns who answered.
func (c *StewardClient) ToPrimary(ctx context.Context, r Route, req *pb.StewardRequest) (peer.ID, *pb.StewardResponse, error) {
	target, adopted := r.First, false
	for range MaxRedirects + 1 {
		resp, err := c.Send(ctx, target, req)
		var we *WireError
		switch {
		case err == nil:
			return target, resp, nil
		case resp == nil:
			return target, nil, err // the transport's, or a malformed answer
		case errors.As(err, &we) && errors.Is(err, ErrNotSteward) && we.Hint != "" && we.Hint != target:
			target = we.Hint
		case errors.Is(err, ErrUnknownBatch) && !adopted && target != c.Self:
			// The steward missed the announcement: hand it the batch.
			adopted = true
			if err := c.Adopt(ctx, target, r.Batch, r.Manifest); err != nil {
				return target, nil, fmt.Errorf("hand batch %s to steward %s: %w", r.Batch, target, err)
			}
		default:
			return target, nil, err
		}
	}
	return target, nil, fmt.Errorf("batch %s: stewards keep redirecting", r.Batch)
}

func stewardReq(batch cid.Cid) *pb.StewardRequest { return &pb.StewardRequest{BatchId: batch.Bytes()} }

// Lease asks r's primary for leases (section 10.2) and returns who granted them.
func (c *StewardClient) Lease(ctx context.Context, r Route, lr *pb.LeaseRequest) (peer.ID, *pb.LeaseGrant, error) {
	req := stewardReq(r.Batch)
	req.Body = &pb.StewardRequest_Lease{Lease: lr}
	from, resp, err := c.ToPrimary(ctx, r, req)
	return from, resp.GetGrant(), err
}

// Renew extends this worker's leases on tasks at r's primary.
func (c *StewardClient) Renew(ctx context.Context, r Route, tasks []uint32) error {
	req := stewardReq(r.Batch)
	req.Body = &pb.StewardRequest_Renew{Renew: &pb.LeaseRenew{Tasks: tasks}}
	_, _, err := c.ToPrimary(ctx, r, req)
	return err
}

// Return hands this worker's leases on tasks back to r's primary.
func (c *StewardClient) Return(ctx context.Context, r Route, tasks []uint32) error {
	req := stewardReq(r.Batch)
	req.Body = &pb.StewardRequest_Return{Return: &pb.LeaseReturn{Tasks: tasks}}
	_, _, err := c.ToPrimary(ctx, r, req)
	return err
}

// Complete reports finished tasks to r's primary (section 10.4).
func (c *StewardClient) Complete(ctx context.Context, r Route, m *pb.Complete) error {
	req := stewardReq(r.Batch)
	req.Body = &pb.StewardRequest_Complete{Complete: m}
	_, _, err := c.ToPrimary(ctx, r, req)
	return err
}

// Status asks r's primary (or whichever steward the hints lead to) for the batch's
// progress (section 10.9) and returns who answered.
func (c *StewardClient) Status(ctx context.Context, r Route) (peer.ID, *pb.BatchStatus, error) {
	req := stewardReq(r.Batch)
	req.Body = &pb.StewardRequest_Status{Status: &pb.StatusRequest{}}
	from, resp, err := c.ToPrimary(ctx, r, req)
	return from, resp.GetStatus(), err
}

// Delta copies task states of batch to the steward p (section 10.6); d must be signed.
func (c *StewardClient) Delta(ctx context.Context, p peer.ID, batch cid.Cid, d *pb.StateDelta) error {
	req := stewardReq(batch)
	req.Body = &pb.StewardRequest_Delta{Delta: d}
	_, err := c.Send(ctx, p, req)
	return err
}

// Pull asks the steward p for its whole state of batch (section 10.6). The snapshot's
// signature is the caller's to verify.
func (c *StewardClient) Pull(ctx context.Context, p peer.ID, batch cid.Cid) (*pb.StateSnapshot, error) {
	req := stewardReq(batch)
	req.Body = &pb.StewardRequest_Pull{Pull: &pb.StatePull{}}
	resp, err := c.Send(ctx, p, req)
	return resp.GetSnapshot(), err
}

// Adopt hands batch, with its signed manifest, to the steward p (section 10.8).
func (c *StewardClient) Adopt(ctx context.Context, p peer.ID, batch cid.Cid, manifest []byte) error {
	req := stewardReq(batch)
	req.Body = &pb.StewardRequest_Adopt{Adopt: &pb.Adopt{Manifest: manifest}}
	_, err := c.Send(ctx, p, req)
	return err
}

// List asks p for the signed manifests of the batches it knows that may still need work
// (section 10.10). Each is the caller's to check.
func (c *StewardClient) List(ctx context.Context, p peer.ID) ([][]byte, error) {
	resp, err := c.Send(ctx, p, &pb.StewardRequest{Body: &pb.StewardRequest_List{List: &pb.ListBatches{}}})
	return resp.GetBatches().GetManifests(), err
}
