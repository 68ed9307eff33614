package node

import (
	"fmt"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Under adaptive replication a task may be accepted on one trusted peer's result. Holders
// then need the primary steward's word that the task was sampled for a single run: a
// signed statement naming the batch, the task and the output.

func singleBytes(batch cid.Cid, task int, out cid.Cid) []byte {
	return protocol.SingleSignedBytes(batch, task, out)
}

// vouchSingle fills in this node's statement that task was accepted single.
func (n *Node) vouchSingle(sr *pb.StoredResult, batch cid.Cid, out cid.Cid) error {
	sig, err := n.sk.Sign(singleBytes(batch, int(sr.Task), out))
	if err != nil {
		return err
	}
	sr.Single, sr.Steward, sr.StewardSignature = true, []byte(n.id), sig
	return nil
}

// checkSingle verifies a steward's statement that a task ran single.
func (n *Node) checkSingle(b *batch, task int, out cid.Cid, sr *pb.StoredResult) error {
	if !b.m.AdaptiveReplication {
		return fmt.Errorf("task %d: a single-replica result for a batch without adaptive replication", task)
	}
	steward, err := peer.IDFromBytes(sr.GetSteward())
	if err != nil {
		return fmt.Errorf("task %d: steward: %w", task, err)
	}
	if !n.liveView().NearSteward(b.id, n.stewardCount(b), steward) && steward != n.id {
		return fmt.Errorf("task %d: %s, who vouches for a single-replica result, is not a steward of the batch", task, shortID(steward))
	}
	pk, err := steward.ExtractPublicKey()
	if err != nil || pk.Type() != crypto.Ed25519 {
		return fmt.Errorf("task %d: steward key: %v", task, err)
	}
	if ok, err := pk.Verify(singleBytes(b.id, task, out), sr.GetStewardSignature()); err != nil || !ok {
		return fmt.Errorf("task %d: the steward's statement does not verify", task)
	}
	return nil
}
