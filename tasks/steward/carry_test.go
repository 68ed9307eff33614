package steward

import (
	"errors"
	"fmt"
	"github.com/libp2p/go-libp2p/core/peer"
	"slices"
	"strconv"
	"strings"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks/placement"
)

// How the world carries out a Ready, and how it prints it. Every line starts with the node
// it happened on, or "a -> b:" for a message from a to b.

var errUnreachable = errors.New("unreachable")

// carry carries out x's Ready: what is local at once, messages through the queue.
func (w *world) carry(x string, rd Ready) {
	n := w.nodes[x]
	if rd.Promise != nil {
		n.promise = *rd.Promise
		w.printf("%s: promise epoch %d to %s", x, rd.Promise.Epoch, w.names[rd.Promise.Holder])
	}
	if rd.Voters != nil {
		n.voters = *rd.Voters
		w.printf("%s: voters epoch %d change %d: %s -> %s", x, rd.Voters.Epoch, rd.Voters.Seq, w.nameList(rd.Voters.Set), w.nameList(rd.Voters.Next))
	}
	for _, e := range rd.Events {
		w.printf("%s: %s: %s%s", x, strings.ToLower(e.Level.String()), e.Msg, w.args(e.Args))
	}
	if len(rd.Persist) > 0 {
		var ts []int
		for _, p := range rd.Persist {
			n.saved[int(p.Task)] = p
			ts = append(ts, int(p.Task))
		}
		w.printf("%s: save %s", x, taskList(ts))
	}
	if len(rd.Verdicts) > 0 {
		var vs, distrusted []string
		for _, v := range rd.Verdicts {
			rec := w.trust[x][v.Peer]
			if rec == nil {
				rec = &TrustRecord{PeerID: v.Peer.String()}
				w.trust[x][v.Peer] = rec
			}
			was := rec.Distrusted()
			word := "agreed"
			if rec.Apply(v, w.now) {
				word = "disagreed"
				p := v.Peer
				w.queue = append(w.queue, func() { w.step(x, Reverify{Peer: p}) })
			}
			vs = append(vs, w.names[v.Peer]+" "+word)
			if rec.Distrusted() && !was {
				distrusted = append(distrusted, w.names[v.Peer])
			}
		}
		w.printf("%s: verdicts %s", x, strings.Join(vs, ", "))
		for _, p := range distrusted {
			w.printf("%s: %s distrusted (the node blocks it in 10s unless it asks first)", x, p)
		}
	}
	for _, b := range rd.Block {
		w.printf("%s: block %s in %v: %s", x, w.names[b.Peer], b.After, b.Reason)
	}
	if rd.FetchBlobs {
		w.printf("%s: fetch the batch's blobs", x)
	}
	for _, r := range rd.Replies {
		w.answer(x, r)
	}
	if len(rd.Pull) > 0 {
		for _, p := range rd.Pull {
			w.printf("%s -> %s: pull", x, w.names[p])
		}
		w.queue = append(w.queue, func() {
			var acks []Input
			for _, p := range rd.Pull {
				acks = append(acks, w.deliverPull(x, w.names[p]))
			}
			w.stepAll(x, acks)
		})
	}
	if len(rd.Votes) > 0 {
		for _, v := range rd.Votes {
			w.printf("%s -> %s: vote epoch %d for %v", x, w.names[v.To], v.Epoch, v.Duration)
		}
		w.queue = append(w.queue, func() {
			var acks []Input
			for _, v := range rd.Votes {
				acks = append(acks, w.deliverVote(x, v))
			}
			w.stepAll(x, acks)
		})
	}
	for _, c := range rd.Copies {
		if c.Digest != nil {
			w.printf("%s -> %s: digest", x, w.names[c.To])
			continue
		}
		what := ""
		if c.Full {
			what = " (full)"
		}
		if c.Epoch > 0 {
			what += fmt.Sprintf(" epoch %d", c.Epoch)
		}
		w.printf("%s -> %s: copy %s%s", x, w.names[c.To], taskList(pbTasks(c.Tasks)), what)
	}
	for _, s := range rd.Stores {
		var ts []int
		vouched := ""
		for _, r := range s.Results {
			ts = append(ts, r.Task)
			if r.Vouch {
				vouched = " (vouched single)"
			}
		}
		if s.Epoch > 0 {
			vouched += fmt.Sprintf(" epoch %d", s.Epoch)
		}
		w.printf("%s -> %s: store %s%s", x, w.names[s.Holder], taskList(ts), vouched)
	}
	if len(rd.Copies)+len(rd.Stores) == 0 {
		return
	}
	// The Ready's copies and stores go out together; their answers come back together,
	// as the node's driver steps them.
	w.queue = append(w.queue, func() {
		var acks []Input
		for _, c := range rd.Copies {
			acks = append(acks, w.deliverCopy(x, c))
		}
		for _, s := range rd.Stores {
			acks = append(acks, w.deliverStore(x, s))
		}
		w.stepAll(x, acks)
	})
}

// stepAll steps the answers to one Ready's messages into x, then carries out one Ready.
func (w *world) stepAll(x string, ins []Input) {
	n := w.nodes[x]
	if n == nil || n.core == nil || !w.up[x] {
		return // it went down meanwhile
	}
	for _, in := range ins {
		n.core.Step(in)
	}
	w.carry(x, n.core.Ready())
}

func (w *world) deliverCopy(x string, c Copy) Input {
	p := w.names[c.To]
	if !w.reach(x, p) {
		w.printf("%s -> %s: copy failed: unreachable", x, p)
		return CopySent{To: c.To, Seq: c.Seq, Full: c.Full, Err: errUnreachable}
	}
	node := w.steward(p)
	id := w.newReq(nil)
	if c.Digest != nil {
		node.core.Step(w.at(p, DigestQuery{Req: id, From: w.ids[x], Digest: *c.Digest, Epoch: c.Epoch}))
		rd := node.core.Ready()
		reply := takeReply(&rd, id)
		w.carry(p, rd)
		switch {
		case reply.Err != nil:
			w.printf("%s -> %s: digest refused: %s", p, x, w.named.Replace(reply.Err.Error()))
		case len(reply.Want)+len(reply.Differing) == 0:
			w.printf("%s -> %s: digest same", p, x)
		default:
			w.printf("%s -> %s: digest differs: wants %s, sends %s", p, x, taskList(reply.Want), taskList(pbTasks(reply.Differing)))
		}
		return CopySent{To: c.To, Seq: c.Seq, Full: c.Full, Err: reply.Err, Want: reply.Want, Theirs: w.decode(reply.Differing)}
	}
	node.core.Step(w.at(p, StateCopy{Req: id, From: w.ids[x], Tasks: w.decode(c.Tasks), Epoch: c.Epoch, Voters: c.Voters}))
	rd := node.core.Ready()
	reply := takeReply(&rd, id)
	w.carry(p, rd)
	if reply.Err != nil {
		w.printf("%s -> %s: copy refused: %s", p, x, w.named.Replace(reply.Err.Error()))
	}
	return CopySent{To: c.To, Seq: c.Seq, Full: c.Full, Err: reply.Err}
}

func (w *world) deliverPull(x, p string) Input {
	if !w.reach(x, p) {
		w.printf("%s -> %s: pull failed: unreachable", x, p)
		return Pulled{From: w.ids[p], Err: errUnreachable}
	}
	node := w.nodes[p]
	if node == nil || node.core == nil {
		w.printf("%s -> %s: no state", p, x)
		return Pulled{From: w.ids[p], Err: errors.New("unknown batch")}
	}
	id := w.newReq(nil)
	node.core.Step(SnapshotQuery{Req: id})
	rd := node.core.Ready()
	reply := takeReply(&rd, id)
	w.carry(p, rd)
	w.printf("%s -> %s: snapshot %s", p, x, taskList(pbTasks(reply.Snapshot)))
	return Pulled{From: w.ids[p], Tasks: w.decode(reply.Snapshot), Epoch: reply.Epoch, Voters: reply.Voters}
}

// deliverVote carries a vote request to its steward (which takes up the batch if it had
// not: a node adopts it from the request's manifest) and brings the answer back.
func (w *world) deliverVote(x string, v VoteAsk) Input {
	p := w.names[v.To]
	ans := VoteAnswer{From: v.To, Round: v.Round}
	if !w.reach(x, p) {
		w.printf("%s -> %s: vote failed: unreachable", x, p)
		ans.Err = errUnreachable
		return ans
	}
	node := w.steward(p)
	id := w.newReq(nil)
	node.core.Step(w.at(p, VoteRequest{Req: id, From: w.ids[x], Epoch: v.Epoch, Duration: v.Duration, Stewards: v.Stewards, Voters: v.Voters}))
	rd := node.core.Ready()
	reply := takeReply(&rd, id)
	w.carry(p, rd)
	if reply.Err != nil {
		w.printf("%s -> %s: vote refused: %s", p, x, w.named.Replace(reply.Err.Error()))
		ans.Err = reply.Err
	} else {
		w.printf("%s -> %s: vote granted epoch %d", p, x, reply.Vote.GetEpoch())
	}
	return ans
}

// deliverStore stores results on holder h. Under epochs a holder refuses a store of a
// lower epoch than the one it holds a task's result under when the outputs differ
// (protocol/README.md 12.2); the world also checks that no two stores ever carry two
// outputs for one task.
func (w *world) deliverStore(x string, s Store) Input {
	h := w.names[s.Holder]
	var ts []int
	for _, r := range s.Results {
		ts = append(ts, r.Task)
	}
	if !w.reach(x, h) {
		w.printf("%s -> %s: store failed: unreachable", x, h)
		return Stored{Holder: w.ids[h], Failed: ts}
	}
	if w.held[h] == nil {
		w.held[h], w.heldAt[h] = map[int]bool{}, map[int]heldResult{}
	}
	ack := Stored{Holder: w.ids[h]}
	var refused []int
	for _, r := range s.Results {
		if was, ok := w.heldAt[h][r.Task]; ok && s.Epoch < was.epoch && !was.out.Equals(r.Output) {
			refused = append(refused, r.Task)
			ack.Failed, ack.Epoch = append(ack.Failed, r.Task), was.epoch
			continue
		}
		if first, ok := w.stored[r.Task]; !ok {
			w.stored[r.Task] = r.Output
		} else if !first.Equals(r.Output) {
			w.twice = append(w.twice, fmt.Sprintf("task %d stored as %s after %s (by %s, epoch %d)", r.Task, w.outs[r.Output.KeyString()], w.outs[first.KeyString()], x, s.Epoch))
		}
		w.held[h][r.Task] = true
		w.heldAt[h][r.Task] = heldResult{out: r.Output, epoch: max(s.Epoch, w.heldAt[h][r.Task].epoch)}
		ack.Stored = append(ack.Stored, r.Task)
	}
	if len(refused) > 0 {
		w.printf("%s -> %s: store %s refused: epoch %d is stale (stored under epoch %d)", h, x, taskList(refused), s.Epoch, ack.Epoch)
	}
	if len(ack.Stored) > 0 {
		w.printf("%s: holds %s", h, taskList(ack.Stored))
	}
	return ack
}

func takeReply(rd *Ready, id ReqID) Reply {
	for i, r := range rd.Replies {
		if r.Req == id {
			rd.Replies = slices.Delete(rd.Replies, i, i+1)
			return r
		}
	}
	panic("no reply")
}

func (w *world) newReq(r *request) ReqID {
	w.nextReq++
	if r != nil {
		w.reqs[w.nextReq] = r
	}
	return w.nextReq
}

// ask sends a worker's request to the steward its own view names, following redirects.
func (w *world) ask(worker string, make func(ReqID) Input) {
	c := placement.Config{Self: w.ids[worker], At: w.now}
	for _, m := range w.members {
		c.Members = append(c.Members, w.ids[m])
		if w.reach(worker, m) {
			c.Connected = append(c.Connected, w.ids[m])
		}
	}
	to := w.names[placement.New(c).Primary(w.id, int(w.m.Replication))]
	if to == worker {
		w.printf("%s: no steward reachable", worker)
		return
	}
	w.send(&request{worker: worker, to: to, make: make})
	w.run()
}

func (w *world) send(r *request) {
	if !w.reach(r.worker, r.to) {
		w.printf("%s -> %s: unreachable", r.worker, r.to)
		return
	}
	if n := w.nodes[r.to]; n == nil || n.core == nil {
		w.printf("%s -> %s: adopt the batch (it was not a steward)", r.worker, r.to)
		w.steward(r.to)
	}
	w.step(r.to, r.make(w.newReq(r)))
}

// answer delivers a reply to the worker that asked (a redirect is followed).
func (w *world) answer(x string, r Reply) {
	q := w.reqs[r.Req]
	if q == nil {
		return
	}
	delete(w.reqs, r.Req)
	w.printf("%s -> %s: %s", x, q.worker, w.reply(r))
	for _, l := range r.Grant.GetLeases() {
		if w.granted[q.worker] == nil {
			w.granted[q.worker] = map[int]bool{}
		}
		w.granted[q.worker][int(l.GetTask())] = true
	}
	var we *protocol.WireError
	if errors.As(r.Err, &we) && we.Code == pb.ErrorCode_NOT_STEWARD && we.Hint != "" && q.hops < 3 {
		q.to, q.hops = w.names[we.Hint], q.hops+1
		w.queue = append(w.queue, func() { w.send(q) })
	}
}

func (w *world) reply(r Reply) string {
	var we *protocol.WireError
	switch {
	case errors.As(r.Err, &we) && we.Code == pb.ErrorCode_NOT_STEWARD:
		return "not steward, ask " + w.names[we.Hint]
	case r.Err != nil:
		return "error: " + w.named.Replace(r.Err.Error())
	case r.Grant != nil:
		return w.grant(r.Grant)
	case r.Status != nil:
		s := r.Status.Summary
		out := fmt.Sprintf("%s: %d/%d done, %d failed, %d running, %d executions, %d reassigned, min %d live holders",
			s.State, s.Done, s.Total, s.Failed, s.Running, s.Executions, s.Reassigned, s.MinReplicas)
		for _, wr := range r.Status.Waiting {
			out += "\n  " + wr.Reason
		}
		return out
	}
	return "ok"
}

func (w *world) grant(g *pb.LeaseGrant) string {
	var parts []string
	if len(g.GetLeases()) > 0 {
		var ts []int
		for _, l := range g.GetLeases() {
			ts = append(ts, int(l.GetTask()))
		}
		until := time.UnixMilli(g.GetLeases()[0].GetExpiresMs()).Sub(w.t0)
		parts = append(parts, fmt.Sprintf("grant %s until +%v", taskList(ts), until))
	} else {
		parts = append(parts, "no leases")
	}
	if g.GetEpoch() > 0 {
		parts = append(parts, fmt.Sprintf("epoch %d", g.GetEpoch()))
	}
	if g.GetRetryAfterMs() > 0 {
		parts = append(parts, fmt.Sprintf("retry in %dms", g.GetRetryAfterMs()))
	}
	if g.GetDone() {
		parts = append(parts, "done")
	}
	if g.GetRefused() != "" {
		parts = append(parts, "refused: "+w.named.Replace(g.GetRefused()))
	}
	if g.GetWaiting() != "" {
		parts = append(parts, g.GetWaiting())
	}
	return strings.Join(parts, "; ")
}

func (w *world) args(kv []any) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%s", kv[i], w.named.Replace(fmt.Sprint(kv[i+1])))
	}
	return b.String()
}

func pbTasks(ps []*pb.TaskState) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = int(p.Task)
	}
	return out
}

// taskList writes tasks as "0-3,7", or "none".
func taskList(ts []int) string {
	if len(ts) == 0 {
		return "none"
	}
	ts = slices.Clone(ts)
	slices.Sort(ts)
	ts = slices.Compact(ts)
	var parts []string
	for i := 0; i < len(ts); {
		j := i
		for j+1 < len(ts) && ts[j+1] == ts[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, strconv.Itoa(ts[i])+"-"+strconv.Itoa(ts[j]))
		} else {
			parts = append(parts, strconv.Itoa(ts[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// nameList names peers for the trace.
func (w *world) nameList(ps []peer.ID) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = w.names[p]
	}
	return "[" + strings.Join(names, " ") + "]"
}
