package node

import (
	"fmt"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// Steward state copies are signed by the steward that sends them and checked against the
// sender's peer ID on receipt, like manifests and result records.

const stateSigDomain = "allforone/state/v1\n"

// signable is a state message with a signature field.
type signable interface {
	proto.Message
	GetSignature() []byte
}

func stateSigningBytes(batch cid.Cid, m signable, clear func()) ([]byte, error) {
	sig := m.GetSignature()
	clear()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	restore(m, sig)
	if err != nil {
		return nil, err
	}
	return append(append([]byte(stateSigDomain), batch.Bytes()...), b...), nil
}

func restore(m signable, sig []byte) {
	switch v := m.(type) {
	case *pb.StateDelta:
		v.Signature = sig
	case *pb.StateSnapshot:
		v.Signature = sig
	}
}

func clearer(m signable) func() { return func() { restore(m, nil) } }

// signState signs a StateDelta or StateSnapshot of batch with this node's key.
func (n *Node) signState(batch cid.Cid, m signable) error {
	b, err := stateSigningBytes(batch, m, clearer(m))
	if err != nil {
		return err
	}
	sig, err := n.sk.Sign(b)
	if err != nil {
		return err
	}
	restore(m, sig)
	return nil
}

// verifyState checks a state message's signature against its sender.
func verifyState(from peer.ID, batch cid.Cid, m signable) error {
	pk, err := from.ExtractPublicKey()
	if err != nil || pk.Type() != crypto.Ed25519 {
		return fmt.Errorf("state copy from %s: no Ed25519 key in the peer ID", shortID(from))
	}
	b, err := stateSigningBytes(batch, m, clearer(m))
	if err != nil {
		return err
	}
	if ok, err := pk.Verify(b, m.GetSignature()); err != nil || !ok {
		return fmt.Errorf("state copy from %s: the signature does not verify", shortID(from))
	}
	return nil
}
