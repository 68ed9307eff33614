package protocol

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// StewardClient makes steward-protocol requests (README.md section 10) through a Caller
// and checks every answer (ValidateStewardResponse) before it returns it. Requests to Self
// go to Local, in-process, when it is set: a node is often its own steward.
type StewardClient struct {
	Caller Caller
	Swarm  string
	Self   peer.ID
	Local  func(ctx context.Context, req *pb.StewardRequest) *pb.StewardResponse
	// Learn, when set, is given a hint's addresses (Error.steward_addrs) before the hint
	// is followed: the node adds them to its peerstore, so a hinted peer it has no route
	// to can be dialled.
	Learn func(p peer.ID, addrs []ma.Multiaddr)
}

// Route is where a request for the primary steward of a batch goes first, and the batch's
// signed manifest, handed to a steward that answers UNKNOWN_BATCH (section 10.3).
type Route struct {
	Batch    cid.Cid
	Manifest []byte
	First    peer.ID // the closest live steward in the caller's view
	// Next are the batch's other stewards, closest first (the caller's lookup): where the
	// request goes when a target cannot be dialled. Optional.
	Next []peer.ID
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
// NOT_STEWARD and FENCED hints (at most MaxRedirects), learning a hint's addresses first,
// and, once, hands the batch (Adopt) to a steward other than Self that does not know it,
// then asks it again. A target that cannot be dialled is skipped for the next of r.Next
// not tried yet, and so is a hint to a steward tried already (hints in a circle: stewards
// that missed where the role went) or one past MaxRedirects; the error, when none answers,
// says why each was skipped. It returns who answered.
func (c *StewardClient) ToPrimary(ctx context.Context, r Route, req *pb.StewardRequest) (peer.ID, *pb.StewardResponse, error) {
	target, adopted := r.First, false
	tried := map[peer.ID]bool{}
	var skipped []error
	var hintFrom peer.ID // who hinted at target ("" for r.First and r.Next)
	redirects := 0
	for range MaxRedirects + 1 + len(r.Next) {
		tried[target] = true
		resp, err := c.Send(ctx, target, req)
		var we *WireError
		switch {
		case err == nil:
			return target, resp, nil
		case resp == nil && ctx.Err() == nil && !errors.Is(err, ErrInvalid):
			// The transport's: skip the target for the next steward not tried yet.
			if hintFrom != "" {
				err = fmt.Errorf("hint %s from %s could not be reached, skipped: %w", target, hintFrom, err)
			} else {
				err = fmt.Errorf("steward %s could not be reached, skipped: %w", target, err)
			}
			skipped = append(skipped, err)
			next := slices.IndexFunc(r.Next, func(p peer.ID) bool { return !tried[p] })
			if next < 0 {
				return target, nil, errors.Join(skipped...)
			}
			target, hintFrom = r.Next[next], ""
		case resp == nil:
			return target, nil, err // a malformed answer, or the caller gave up
		case errors.As(err, &we) && (errors.Is(err, ErrNotSteward) || errors.Is(err, ErrFenced)) && we.Hint != "" && we.Hint != target:
			if c.Learn != nil && len(we.Addrs) > 0 {
				c.Learn(we.Hint, we.Addrs)
			}
			redirects++
			if next := slices.IndexFunc(r.Next, func(p peer.ID) bool { return !tried[p] }); next >= 0 && (tried[we.Hint] || redirects > MaxRedirects) {
				// The hints lead in a circle (stewards that missed where the role went):
				// ask the next steward of the route instead.
				target, hintFrom = r.Next[next], ""
				continue
			}
			if redirects > MaxRedirects {
				return target, nil, errors.Join(append(skipped, fmt.Errorf("batch %s: stewards keep redirecting", r.Batch))...)
			}
			target, hintFrom = we.Hint, target
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
	return target, nil, errors.Join(append(skipped, fmt.Errorf("batch %s: stewards keep redirecting", r.Batch))...)
}

// Vote asks the steward p for its vote on epoch as batch's primary epoch, for a lease of d
// (section 10.12), naming the caller's steward set and voting set (nil when none was fixed). A refusal is a *WireError (ErrFenced
// with the epoch p promised, or ErrNotSteward).
func (c *StewardClient) Vote(ctx context.Context, p peer.ID, batch cid.Cid, epoch uint64, d time.Duration, stewards []peer.ID, voters *pb.VotingSet) (*pb.VoteGrant, error) {
	req := stewardReq(batch)
	v := &pb.PrimaryVote{Epoch: epoch, DurationMs: uint32(d.Milliseconds()), VotingSet: voters}
	for _, s := range stewards {
		v.Stewards = append(v.Stewards, []byte(s))
	}
	req.Body = &pb.StewardRequest_Vote{Vote: v}
	resp, err := c.Send(ctx, p, req)
	return resp.GetVote(), err
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

// Digest asks the steward p how its state of batch differs from the caller's, task by task
// (section 10.13). The states in the answer are the caller's to verify.
func (c *StewardClient) Digest(ctx context.Context, p peer.ID, batch cid.Cid, d *pb.StateDigest) (*pb.DigestMatch, error) {
	req := stewardReq(batch)
	req.Body = &pb.StewardRequest_Digest{Digest: d}
	resp, err := c.Send(ctx, p, req)
	return resp.GetDigest(), err
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
