package node

import (
	"context"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
)

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
		if err := n.syncDatastore(context.Background(), false); err != nil {
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
