package placement

import (
	"slices"

	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The rules. k is a batch's K (Manifest.Replication, at least 1): it has K stewards and
// each accepted result K holders.

// Stewards returns the k stewards of a batch, its primary first: the k live members closest
// to the batch ID. It is never empty.
func (v *View) Stewards(batch cid.Cid, k int) []peer.ID { return v.Closest(batch, max(k, 1)) }

// Primary is the steward that decides for a batch: the live member closest to its ID.
func (v *View) Primary(batch cid.Cid, k int) peer.ID { return v.Stewards(batch, k)[0] }

// NearSteward reports whether p is among the k+Slack live members closest to a batch: a
// peer that may send or receive its state copies, or vouch for its single-replica
// results.
func (v *View) NearSteward(batch cid.Cid, k int, p peer.ID) bool {
	return slices.Contains(v.Closest(batch, max(k, 1)+Slack), p)
}

// OtherSteward is the closest live steward of a batch other than this node, as a hint for
// a peer that asked the wrong one ("" when there is none).
func (v *View) OtherSteward(batch cid.Cid, k int) peer.ID {
	for _, p := range v.Closest(batch, max(k, 1)+1) {
		if p != v.self {
			return p
		}
	}
	return ""
}

// Holders returns the k members that should hold the result with key: the closest of the
// live members and of those away within the grace (they come back with their data) -
// unless fewer than min(k, tasks.MinLiveCopies) of those are live, when the grace does not
// apply and the k closest live members are chosen. A holder, which does not know who else
// holds a result, repairs towards these (RepairTargets).
func (v *View) Holders(key cid.Cid, k int) []peer.ID {
	k = max(k, 1)
	chosen := closestOf(keyOf(key), k, &v.live, &v.away)
	nLive := 0
	for _, h := range chosen {
		if v.Live(h) {
			nLive++
		}
	}
	if nLive < min(k, tasks.MinLiveCopies) {
		return v.Closest(key, k)
	}
	return chosen
}

// NeedsCopies reports whether a result held by holders (the peers that acknowledged
// storing it) needs more copies to have k: a holder away within the grace counts while
// min(k, tasks.MinLiveCopies) copies are live (tasks.NeedsCopies).
func (v *View) NeedsCopies(k int, holders []peer.ID) bool {
	live, away := 0, 0
	for _, h := range holders {
		switch v.State(h) {
		case tasks.HolderLive:
			live++
		case tasks.HolderAway:
			away++
		}
	}
	return tasks.NeedsCopies(max(k, 1), live, away)
}

// StoreTargets are where a steward stores an accepted result that needs copies (new, or
// NeedsCopies): the k closest live members that do not hold it yet. Copies go to live
// peers only, and the steward knows who holds what, so it need not wait for a member
// that is away and never held the result.
func (v *View) StoreTargets(key cid.Cid, k int, holders []peer.ID) []peer.ID {
	out := v.Closest(key, max(k, 1))
	return slices.DeleteFunc(out, func(p peer.ID) bool { return slices.Contains(holders, p) })
}

// RepairTargets are the peers a holder of the result with key makes sure hold it too: its
// Holders other than this node. Those away are to be asked when they are back; copies go
// to the live ones.
func (v *View) RepairTargets(key cid.Cid, k int) []peer.ID {
	return slices.DeleteFunc(v.Holders(key, k), func(p peer.ID) bool { return p == v.self })
}

// HandOffTargets are the peers a node that stops gracefully gives a held result to: the k
// closest live members other than itself (the k+1 closest, as it may be one of them).
func (v *View) HandOffTargets(key cid.Cid, k int) []peer.ID {
	return slices.DeleteFunc(v.Closest(key, max(k, 1)+1), func(p peer.ID) bool { return p == v.self })
}

// ExtraCopy reports whether this node's copy of the result with key is an extra one that
// garbage collection may drop once all of holders confirm that they hold it: there are k
// live members closest to key and this node is not one of them.
func (v *View) ExtraCopy(key cid.Cid, k int) (holders []peer.ID, extra bool) {
	k = max(k, 1)
	holders = v.Closest(key, k)
	return holders, len(holders) == k && !slices.Contains(holders, v.self)
}

// FetchTargets are where a node looks first for the result with key: the k closest live
// members other than itself.
func (v *View) FetchTargets(key cid.Cid, k int) []peer.ID {
	return slices.DeleteFunc(v.Closest(key, max(k, 1)), func(p peer.ID) bool { return p == v.self })
}
