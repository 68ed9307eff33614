package tasks

import (
	"errors"
	"fmt"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ResultRecord is an executor's signed statement of what one task produced. A record with
// Error set says the execution failed; it carries no output.
type ResultRecord struct {
	Batch      cid.Cid
	Task       int
	Executor   peer.ID
	Output     cid.Cid // content ID of the output; undefined on failure
	OutputSize uint64
	Error      string // "" on success, else the failure kind (timeout, trap, memory, output, exit, invalid, error)
	Finished   time.Time
	Duration   time.Duration
	Signature  []byte
}

// OK reports whether the execution succeeded.
func (r *ResultRecord) OK() bool { return r.Error == "" }

// ToPB converts the record to its wire form.
func (r *ResultRecord) ToPB() *pb.ResultRecord {
	p := &pb.ResultRecord{
		BatchId:    r.Batch.Bytes(),
		Task:       uint32(r.Task),
		Executor:   []byte(r.Executor),
		OutputSize: r.OutputSize,
		Error:      r.Error,
		FinishedMs: r.Finished.UnixMilli(),
		DurationMs: uint32(r.Duration.Milliseconds()),
		Signature:  r.Signature,
	}
	if r.Output.Defined() {
		p.OutputCid = r.Output.Bytes()
	}
	return p
}

// ResultFromPB converts a wire record, checking its shape (protocol.ValidateResultRecord)
// but not its signature (Verify).
func ResultFromPB(p *pb.ResultRecord) (ResultRecord, error) {
	if err := protocol.ValidateResultRecord(p); err != nil {
		return ResultRecord{}, err
	}
	r := ResultRecord{
		Task:       int(p.GetTask()),
		Executor:   peer.ID(p.GetExecutor()),
		OutputSize: p.GetOutputSize(),
		Error:      p.GetError(),
		Finished:   time.UnixMilli(p.GetFinishedMs()),
		Duration:   time.Duration(p.GetDurationMs()) * time.Millisecond,
		Signature:  p.GetSignature(),
	}
	// The IDs parsed in the validation: these casts cannot fail.
	r.Batch, _ = cid.Cast(p.GetBatchId())
	if len(p.GetOutputCid()) > 0 {
		r.Output, _ = cid.Cast(p.GetOutputCid())
	}
	return r, nil
}

func (r *ResultRecord) signingBytes() ([]byte, error) { return protocol.ResultSignedBytes(r.ToPB()) }

// Sign sets the executor to key's peer ID and signs the record.
func (r *ResultRecord) Sign(key crypto.PrivKey) error {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return err
	}
	r.Executor = id
	r.Finished = time.UnixMilli(r.Finished.UnixMilli())
	r.Duration = r.Duration.Truncate(time.Millisecond)
	b, err := r.signingBytes()
	if err != nil {
		return err
	}
	r.Signature, err = key.Sign(b)
	return err
}

// ErrBadResultSignature means a result record's signature does not verify.
var ErrBadResultSignature = errors.New("result record signature is invalid")

// Verify checks the signature against the executor's peer ID.
func (r *ResultRecord) Verify() error {
	pk, err := r.Executor.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: executor %s: %v", ErrBadResultSignature, r.Executor, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: executor %s has a %s key; allforone peers sign with Ed25519", ErrBadResultSignature, r.Executor, pk.Type())
	}
	b, err := r.signingBytes()
	if err != nil {
		return err
	}
	ok, err := pk.Verify(b, r.Signature)
	if err != nil || !ok {
		return fmt.Errorf("%w: task %d by %s", ErrBadResultSignature, r.Task, r.Executor)
	}
	return nil
}
