package steward

import (
	"log/slog"

	"allforone/protocol/pb"
	"allforone/tasks"
)

// Workers: lease requests and completions, on the primary.

// lease answers a lease request: where a lease is granted.
func (s *Steward) lease(in LeaseRequest) {
	now := s.now
	declined := s.noteAsker(in.From, in.MemoryMB, now)
	done := s.st.Done() || now.After(s.m.Deadline)
	if declined {
		// It cannot run this batch and says so: no leases, and why the batch waits if it
		// does.
		s.reply(Reply{Req: in.Req, Grant: &pb.LeaseGrant{Done: done, Waiting: WaitingLine(s.waitingFor(now)),
			RetryAfterMs: uint32(DeclineInterval.Milliseconds())}})
		return
	}
	want := min(in.Max, s.cfg.MaxPerGrant)
	refused := s.cfg.Trust.Refusal(in.From)
	if now.After(s.m.Deadline) || refused != "" {
		want = 0 // past its deadline the batch is abandoned; liars get nothing
	}
	if want > 0 && !in.BlobsHere {
		// Workers fetch blobs from their steward: first get them (or find that nobody has
		// them) without holding anyone up. "Nothing yet, ask again soon", not an error: an
		// error would make the worker back off for long, and the blobs are usually here
		// within moments.
		s.rd.FetchBlobs = true
		s.reply(Reply{Req: in.Req, Grant: &pb.LeaseGrant{RetryAfterMs: uint32(LeaseRetryAfter.Milliseconds())}})
		return
	}
	s.st.Expire(now)
	var back []int
	if in.HoldingSet {
		back = s.st.ReleaseWorkerExcept(in.From, in.Holding, now)
	}
	grants := s.st.Grant(in.From, want, now, s.cfg.LeaseDuration, s.cfg.Trust.Consecutive)
	done = s.st.Done() || now.After(s.m.Deadline)
	if len(back) > 0 {
		s.event(slog.LevelInfo, "leases returned to the pool: the worker restarted without them", "worker", short(in.From), "tasks", len(back))
	}
	g := &pb.LeaseGrant{Done: done, Refused: refused, Epoch: s.st.Epoch}
	if !done {
		g.Waiting = WaitingLine(s.waitingFor(now))
	}
	if refused != "" {
		s.rd.Block = append(s.rd.Block, Block{Peer: in.From, After: RefusedBlockAfter, Reason: "wrong results"})
	}
	for _, l := range grants {
		g.Leases = append(g.Leases, &pb.Lease{Task: uint32(l.Task), ExpiresMs: l.Expires.UnixMilli(), GrantId: l.GrantID})
	}
	empty := false
	if len(grants) > 0 {
		s.rd.Protect = append(s.rd.Protect, in.From)
	} else if !done {
		g.RetryAfterMs = uint32(LeaseRetryAfter.Milliseconds())
		empty = true
	}
	s.reply(Reply{Req: in.Req, Grant: g, Empty: empty})
}

// complete records a worker's finished tasks. Its reply waits (flow.go) until the accepted
// results are stored on their holders and the state is copied to the other stewards: the
// worker forgets a result once it is answered, so the work must survive this steward
// first.
func (s *Steward) complete(in Complete) {
	wasDone := s.st.Done()
	var accepted []int
	for _, r := range in.Records {
		if !s.st.HadLease(r.Task, in.From) || r.Executor != in.From {
			// Not asked to run it (or its lease was granted by a steward that died before
			// copying it): a vote nobody asked for does not count.
			s.event(slog.LevelDebug, "result without a lease ignored", "task", r.Task, "from", short(in.From))
			continue
		}
		c := s.st.AddResult(r)
		if note, ok := in.Notes[r.Task]; ok {
			s.st.AddNote(r.Task, note)
		}
		if c.Accepted {
			if s.f == nil {
				s.needStore[r.Task] = struct{}{} // under primary leases, once committed
			}
			accepted = append(accepted, r.Task)
			s.rd.Accepted++
			s.judge(s.st.Task(r.Task))
		}
		if c.Failed {
			f := s.st.Failure(r.Task)
			s.event(slog.LevelWarn, "task failed", "task", r.Task, "error", f.Error,
				"agreeing", f.Agreeing, "executions", f.Executions, "detail", f.Note.Detail)
		}
	}
	if !wasDone && s.st.Done() {
		s.event(slog.LevelInfo, "batch finished")
	}
	s.hold(Reply{Req: in.Req}, accepted)
}

// judge gives the verdicts on a task just accepted: executors whose output is the accepted
// one agreed, the others did not. A failed execution is not a lie (a slow machine times
// out).
func (s *Steward) judge(t *tasks.TaskState) {
	out, ok := t.Accepted()
	if !ok {
		return
	}
	for _, r := range t.Results {
		if r.OK() {
			s.rd.Verdicts = append(s.rd.Verdicts, Verdict{Peer: r.Executor, Agreed: r.Output.Equals(out)})
		}
	}
}
