package protocol

import (
	"encoding/binary"
	"fmt"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/proto"
)

// What each signature on the wire covers (README.md sections 6.3, 7, 10.6 and 12.1). Every
// signed byte string starts with a versioned domain, so a signature over one kind of
// message can never pass for another. Signing and verifying need keys and stay with their
// owners (tasks for manifests and records, node for state copies and vouchers); the bytes
// are defined here.
const (
	// ManifestDomain starts the bytes a submitter signs: the canonical manifest without
	// its signature.
	ManifestDomain = "allforone/manifest/v1\n"
	// ResultDomain starts the bytes an executor signs: its result record, encoded
	// deterministically without its signature.
	ResultDomain = "allforone/result/v1\n"
	// StateDomain starts the bytes a steward signs in a StateDelta or StateSnapshot: the
	// batch ID's binary form, then the message encoded deterministically without its
	// signature.
	StateDomain = "allforone/state/v1\n"
	// SingleDomain starts the bytes a primary steward signs to vouch that a task ran on one
	// trusted peer: the batch ID, uvarint(task) and the output's content ID, all binary.
	SingleDomain = "allforone/single/v1\n"
	// DigestDomain starts the bytes of a task hash (TaskHash, in a StateDigest; not a
	// signature).
	DigestDomain = "allforone/state-digest/v1\n"
	// TaskSeedDomain is hashed with a task ID to make the task's seed (not a signature).
	TaskSeedDomain = "allforone/task-seed/v1\n"
)

// deterministic is the encoding every signature covers: fields in number order, defaults
// omitted, no unknown fields kept (a verifier re-encodes what it decoded).
var deterministic = proto.MarshalOptions{Deterministic: true}

// ResultSignedBytes is what the executor of r signs: ResultDomain and r's fields encoded
// without its signature (unknown fields are not signed: a verifier cannot re-encode them).
func ResultSignedBytes(r *pb.ResultRecord) ([]byte, error) {
	unsigned := &pb.ResultRecord{
		BatchId: r.GetBatchId(), Task: r.GetTask(), Executor: r.GetExecutor(), OutputCid: r.GetOutputCid(),
		OutputSize: r.GetOutputSize(), Error: r.GetError(), FinishedMs: r.GetFinishedMs(), DurationMs: r.GetDurationMs(),
	}
	b, err := deterministic.Marshal(unsigned)
	if err != nil {
		return nil, fmt.Errorf("encode result record: %w", err)
	}
	return append([]byte(ResultDomain), b...), nil
}

// StateCopy is a signed steward state message: *pb.StateDelta or *pb.StateSnapshot.
type StateCopy interface {
	proto.Message
	GetSignature() []byte
}

// StateSignedBytes is what the sending steward signs in a StateDelta or StateSnapshot of
// batch: StateDomain, the batch ID's bytes and m encoded without its signature. m's
// signature is cleared while it is encoded and then restored, so m must not be used
// concurrently (copies are large: cloning one would cost more than the encoding).
func StateSignedBytes(batch cid.Cid, m StateCopy) ([]byte, error) {
	sig := m.GetSignature()
	if err := setStateSignature(m, nil); err != nil {
		return nil, err
	}
	b, err := deterministic.Marshal(m)
	setStateSignature(m, sig)
	if err != nil {
		return nil, fmt.Errorf("encode state copy: %w", err)
	}
	return append(append([]byte(StateDomain), batch.Bytes()...), b...), nil
}

// SetStateSignature sets the signature of a StateDelta or StateSnapshot.
func SetStateSignature(m StateCopy, sig []byte) error { return setStateSignature(m, sig) }

func setStateSignature(m StateCopy, sig []byte) error {
	switch v := m.(type) {
	case *pb.StateDelta:
		v.Signature = sig
	case *pb.StateSnapshot:
		v.Signature = sig
	default:
		return fmt.Errorf("%T is not a state copy", m)
	}
	return nil
}

// SingleSignedBytes is what a primary steward signs to vouch that task of batch was
// accepted on one trusted peer's output out: SingleDomain, the batch ID's bytes,
// uvarint(task) and the output ID's bytes.
func SingleSignedBytes(batch cid.Cid, task int, out cid.Cid) []byte {
	b := append([]byte(SingleDomain), batch.Bytes()...)
	b = binary.AppendUvarint(b, uint64(task))
	return append(b, out.Bytes()...)
}
