package node

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
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
			n.storeResult(ctx, b, sr, 0)
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
			if err := n.storeResult(ctx, b, sr, 0); err != nil {
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

// Completions are sent to the primary steward in batches: while one Complete is on its way,
// the results that finish meanwhile queue up and go together in the next one.

type completion struct {
	rec  tasks.ResultRecord
	out  []byte
	note *tasks.FailureNote // what happened, after a failure
}

// queueCompletion queues a finished task for its steward and makes sure a sender runs.
func (n *Node) queueCompletion(b *batch, c completion) {
	b.mu.Lock()
	b.completions = append(b.completions, c)
	start := !b.sending
	b.sending = true
	b.mu.Unlock()
	if start && !n.goLoop("complete", func(context.Context) { n.sendCompletions(b) }) {
		b.mu.Lock()
		b.sending = false
		b.mu.Unlock()
	}
}

// sendCompletions drains b's completion queue. It outlives a closing node by a few
// seconds so finished work is not thrown away.
func (n *Node) sendCompletions(b *batch) {
	for {
		b.mu.Lock()
		var batch []completion
		size := 0
		for len(b.completions) > 0 && len(batch) < maxCompleteBatch {
			c := b.completions[0]
			if len(batch) > 0 && size+len(c.out) > protocol.MaxOutputsPerMessage {
				break
			}
			batch = append(batch, c)
			size += len(c.out)
			b.completions = b.completions[1:]
		}
		if len(batch) == 0 {
			b.sending = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		// The outputs must survive a crash of this node before the steward has them
		// stored on K holders: if the steward dies too, this is the copy it fetches.
		// One fsync of the datastore's log per message, not per task.
		if err := n.durable.Sync(context.Background(), false); err != nil {
			n.logs.worker.Warn("sync the datastore before sending results", "err", err)
		}
		msg := &pb.Complete{}
		failures := false
		for _, c := range batch {
			msg.Records = append(msg.Records, c.rec.ToPB())
			msg.Outputs = append(msg.Outputs, c.out)
			failures = failures || c.note != nil
		}
		for _, c := range batch {
			if !failures {
				break // notes only beside failures: a message of successes is as it was
			}
			note := &pb.FailureNote{}
			if c.note != nil {
				note.Detail, note.Stderr = c.note.Detail, []byte(c.note.Stderr)
			}
			msg.Notes = append(msg.Notes, note)
		}
		req := &pb.StewardRequest{BatchId: b.id.Bytes(), Body: &pb.StewardRequest_Complete{Complete: msg}}
		var err error
		for attempt := range 5 {
			timeout := 30 * time.Second
			if n.ctx.Err() != nil {
				timeout = 5 * time.Second // closing: deliver if it is quick
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			_, _, err = n.stewardCall(ctx, b, req)
			cancel()
			if err == nil || n.ctx.Err() != nil {
				break
			}
			select {
			case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
			case <-n.ctx.Done():
			}
		}
		if err != nil {
			n.logs.worker.Warn("results not delivered to the steward", "batch", b.id.String(), "tasks", len(batch), "err", err)
		}
		for _, c := range batch {
			b.unhold(c.rec.Task)
		}
	}
}
