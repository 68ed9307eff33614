package node

import (
	"context"
	"fmt"
	"time"

	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FetchResults copies every accepted result of batch id to this node, from the holders:
// first the K peers closest to each task ID, then any peer that provides the batch in the
// DHT, then every live member.
func (n *Node) FetchResults(ctx context.Context, id cid.Cid) (FetchReport, error) {
	// A node that just joined may not see the holders yet: try a few rounds.
	var rep FetchReport
	var err error
	for round := range fetchRounds {
		if rep, err = n.fetchRound(ctx, id); err != nil || len(rep.Missing) == 0 || round == fetchRounds-1 {
			break
		}
		select {
		case <-ctx.Done():
			return rep, nil
		case <-time.After(time.Second):
		}
	}
	return rep, err
}

// fetchRounds is how many times FetchResults looks for missing results, a second apart.
const fetchRounds = 3

func (n *Node) fetchRound(ctx context.Context, id cid.Cid) (FetchReport, error) {
	b := n.getBatch(id)
	if b == nil {
		return FetchReport{}, fmt.Errorf("%w: %s", ErrUnknownBatch, id)
	}
	total := b.m.NumTasks()
	missing := func() []int {
		var out []int
		for i := range total {
			if !n.held.has(id, i) {
				out = append(out, i)
			}
		}
		return out
	}
	k := int(max(b.m.Replication, 1))
	// Round 1: the expected holders of each task.
	want := make(map[peer.ID][]int)
	v := n.liveView()
	for _, t := range missing() {
		for _, h := range v.FetchTargets(tasks.TaskID(id, t), k) {
			want[h] = append(want[h], t)
		}
	}
	for h, ts := range want {
		n.fetchFrom(ctx, b, h, ts)
	}
	// Round 2: the stewards, which keep accepted results until the holders have them, and
	// which know whether a result that stood on one trusted peer's word still stands.
	rest := missing()
	for i := range total {
		if n.held.single(id, i) {
			rest = append(rest, i)
		}
	}
	if len(rest) > 0 {
		for _, s := range n.stewardsOf(b) {
			if s != n.id {
				n.fetchFrom(ctx, b, s, rest)
			} else {
				n.fetchFromSelf(ctx, b, rest)
			}
		}
	}
	// Round 3: providers of the batch, then everyone we know.
	if rest := missing(); len(rest) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var cands []peer.ID
		for info := range n.dht.FindProvidersAsync(pctx, id, 20) {
			cands = append(cands, info.ID)
		}
		cancel()
		// Every connected peer, even one whose protocols identify has not reported yet
		// (a node that just started knows little else).
		cands = append(cands, n.host.Network().Peers()...)
		seen := map[peer.ID]bool{n.id: true}
		for _, p := range cands {
			rest = missing()
			if len(rest) == 0 || ctx.Err() != nil {
				break
			}
			if !seen[p] {
				seen[p] = true
				n.fetchFrom(ctx, b, p, rest)
			}
		}
	}
	rest = missing()
	return FetchReport{BatchID: id.String(), Total: total, Have: total - len(rest), Missing: rest}, nil
}

// fetchFromSelf stores results from this node's own steward state.
func (n *Node) fetchFromSelf(ctx context.Context, b *batch, ts []int) {
	decided := n.stewardResults(ctx, b.id, ts)
	for _, t := range ts {
		if sr, err := decided.get(ctx, n, t, true); err == nil {
			n.storeResult(ctx, b, sr)
		}
	}
}

// fetchFrom asks p for the results of ts (repeating while p answers part of them) and
// stores what verifies.
func (n *Node) fetchFrom(ctx context.Context, b *batch, p peer.ID, ts []int) {
	for len(ts) > 0 && ctx.Err() == nil {
		results, err := n.resultClient.Fetch(ctx, p, b.id, toUint32s(ts), true)
		if err != nil || len(results) == 0 {
			return
		}
		got := make(map[int]bool)
		for _, sr := range results {
			if err := n.storeResult(ctx, b, sr); err != nil {
				n.logs.results.Warn("a holder sent a result that does not verify", "peer", shortID(p), "task", sr.GetTask(), "err", err)
				return
			}
			got[int(sr.GetTask())] = true
		}
		var rest []int
		for _, t := range ts {
			if !got[t] {
				rest = append(rest, t)
			}
		}
		if len(rest) == len(ts) {
			return
		}
		ts = rest
	}
}

// ResultOutput returns the output of a task whose result this node holds.
func (n *Node) ResultOutput(ctx context.Context, id cid.Cid, task int) ([]byte, error) {
	if !n.held.has(id, task) {
		return nil, fmt.Errorf("no result for task %d of %s here: fetch the batch's results first", task, id)
	}
	sr, err := n.loadResult(ctx, id, task, true)
	if err != nil {
		return nil, err
	}
	return sr.Output, nil
}
