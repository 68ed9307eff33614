package node

import (
	"fmt"

	"allforone/protocol"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Steward state copies are signed by the steward that sends them and checked against the
// sender's peer ID on receipt, like manifests and result records. What the signature
// covers is the protocol's (protocol.StateSignedBytes).

// signState signs a StateDelta or StateSnapshot of batch with this node's key.
func (n *Node) signState(batch cid.Cid, m protocol.StateCopy) error {
	b, err := protocol.StateSignedBytes(batch, m)
	if err != nil {
		return err
	}
	sig, err := n.sk.Sign(b)
	if err != nil {
		return err
	}
	return protocol.SetStateSignature(m, sig)
}

// verifyState checks a state message's signature against its sender.
func verifyState(from peer.ID, batch cid.Cid, m protocol.StateCopy) error {
	pk, err := from.ExtractPublicKey()
	if err != nil || pk.Type() != crypto.Ed25519 {
		return fmt.Errorf("state copy from %s: no Ed25519 key in the peer ID", shortID(from))
	}
	b, err := protocol.StateSignedBytes(batch, m)
	if err != nil {
		return err
	}
	if ok, err := pk.Verify(b, m.GetSignature()); err != nil || !ok {
		return fmt.Errorf("state copy from %s: the signature does not verify", shortID(from))
	}
	return nil
}
