package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"allforone/node/internal/p2p"
	"allforone/node/internal/store"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Result holders: an accepted result is stored on the K peers closest to its task ID. A
// stored result is the output plus the signed records that agree on it, so any holder can
// check on its own that a quorum accepted it.

const (
	// maxResultsPerMessage bounds the results in one message, whatever their size.
	maxResultsPerMessage = protocol.MaxResultsPerMessage
)

// heldSet is the results this node holds, by batch.
type heldSet struct {
	mu      sync.Mutex
	tasks   map[string]map[int]heldResult // batch key -> task -> what is known of it
	version uint64                        // changes with every add and remove
}

// heldResult is what the node keeps in memory of a result it holds.
type heldResult struct {
	single bool   // accepted on one trusted peer's word
	mark   uint64 // its write (durable.Points.Mark): durable once a sync point covers it
}

// gen changes whenever a result is added or removed.
func (h *heldSet) gen() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.version
}

func (h *heldSet) add(id cid.Cid, task int, r heldResult) (first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.version++
	m := h.tasks[id.KeyString()]
	if m == nil {
		m = make(map[int]heldResult)
		h.tasks[id.KeyString()] = m
		first = true
	}
	m[task] = r
	return first
}

// lastMark returns the latest write mark among the given held tasks of batch id.
func (h *heldSet) lastMark(id cid.Cid, tasks []uint32) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var mark uint64
	for _, t := range tasks {
		mark = max(mark, h.tasks[id.KeyString()][int(t)].mark)
	}
	return mark
}

func (h *heldSet) has(id cid.Cid, task int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.tasks[id.KeyString()][task]
	return ok
}

// single reports whether a held result stands on one trusted peer's word.
func (h *heldSet) single(id cid.Cid, task int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tasks[id.KeyString()][task].single
}

// list returns the held tasks of a batch, sorted.
func (h *heldSet) list(id cid.Cid) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]int, 0, len(h.tasks[id.KeyString()]))
	for t := range h.tasks[id.KeyString()] {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// HeldResults returns how many results of batch id this node holds.
func (n *Node) HeldResults(id cid.Cid) int { return len(n.held.list(id)) }

// HoldsResult reports whether this node holds the result of a task.
func (n *Node) HoldsResult(id cid.Cid, task int) bool { return n.held.has(id, task) }

// loadHeld rebuilds the index of held results from the datastore.
func (n *Node) loadHeld(ctx context.Context) error {
	// One scan with the values (for the single flag), not a lookup per result: at a start
	// of a daemon holding 5,000 results the lookups were a fifth of its CPU.
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.ResultPrefix})
	if err != nil {
		return err
	}
	defer res.Close()
	// What a killed run wrote may not have reached the disk yet: the first answer that
	// names any of it syncs once.
	mark := n.durable.Mark()
	var keys store.TaskKeyReader
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		id, task, ok := keys.Parse(e.Key)
		if !ok {
			continue
		}
		// A single result is rechecked with its steward when fetched.
		n.held.add(id, task, heldResult{single: storedSingle(e.Value), mark: mark})
	}
	return nil
}

// storedSingle reads the single flag of a stored result (pb.StoredResult field 4) without
// decoding its output and records.
func storedSingle(raw []byte) bool {
	single := false
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return false
		}
		raw = raw[n:]
		if n = protowire.ConsumeFieldValue(num, typ, raw); n < 0 {
			return false
		}
		if num == 4 && typ == protowire.VarintType {
			v, _ := protowire.ConsumeVarint(raw)
			single = v != 0 // the last one counts, as in proto.Unmarshal
		}
		raw = raw[n:]
	}
	return single
}

// checkStored verifies a stored result: the output matches, and the records are signed,
// belong to the task and form an accepting quorum for that output.
func (n *Node) checkStored(b *batch, sr *pb.StoredResult) ([]tasks.ResultRecord, cid.Cid, error) {
	task := int(sr.GetTask())
	if task >= b.m.NumTasks() {
		return nil, cid.Undef, fmt.Errorf("task %d of a %d-task batch", task, b.m.NumTasks())
	}
	out := tasks.ContentID(sr.GetOutput())
	var recs []tasks.ResultRecord
	for _, p := range sr.GetRecords() {
		r, err := tasks.ResultFromPB(p)
		if err != nil {
			return nil, cid.Undef, err
		}
		if r.Task != task || !r.Batch.Equals(b.id) {
			return nil, cid.Undef, fmt.Errorf("record for task %d of %s with result %d", r.Task, r.Batch, task)
		}
		if err := n.verified.Verify(&r); err != nil {
			return nil, cid.Undef, err
		}
		recs = append(recs, r)
	}
	r := int(b.m.Redundancy)
	if sr.GetSingle() {
		// One trusted peer's word, vouched for by a steward of the batch.
		if err := n.checkSingle(b, task, out, sr); err != nil {
			return nil, cid.Undef, err
		}
		r = int(max(b.m.MinRedundancy, 1))
	}
	st, accepted := tasks.Quorum(recs, r, int(max(b.m.MaxReplicas, b.m.Redundancy)))
	if st != tasks.TaskAccepted || !accepted.Equals(out) {
		return nil, cid.Undef, fmt.Errorf("task %d: the records do not accept this output", task)
	}
	return recs, out, nil
}

// storeResult keeps a verified result, stored by a primary of the given epoch (0: none,
// or a holder repairing). A result accepted by the full quorum replaces one that a single
// trusted peer vouched for (the peer may have been caught lying since), and another output
// stored under a higher epoch replaces the held one (the decision of the higher epoch
// wins, as in 10.6). A held result is otherwise kept, and a store of another output under
// a lower epoch than the held one's is refused as FENCED (protocol/README.md 12.2: only a
// stale primary could send it).
func (n *Node) storeResult(ctx context.Context, b *batch, sr *pb.StoredResult, epoch uint64) error {
	var old *pb.StoredResult
	if n.held.has(b.id, int(sr.GetTask())) {
		var err error
		if old, err = n.loadResult(ctx, b.id, int(sr.GetTask()), false); err != nil {
			old = nil
		}
	}
	same := old != nil && storedOutput(old).Equals(tasks.ContentID(sr.GetOutput()))
	if old != nil && !same && epoch > 0 && old.GetEpoch() > epoch {
		return &protocol.WireError{Code: pb.ErrorCode_FENCED, Epoch: old.GetEpoch(),
			Message: fmt.Sprintf("task %d: this holder stored another output under epoch %d, above the store's %d", sr.GetTask(), old.GetEpoch(), epoch)}
	}
	if old != nil && (!old.GetSingle() || sr.GetSingle()) && (same || epoch <= old.GetEpoch()) {
		if epoch > old.GetEpoch() {
			old.Epoch = epoch // the same output under a newer epoch: the newer counts
			if raw, err := proto.Marshal(old); err == nil {
				return n.ds.Put(ctx, store.ResultKey(b.id, int(sr.GetTask())), raw)
			}
		}
		return nil
	}
	if _, _, err := n.checkStored(b, sr); err != nil {
		return err
	}
	if _, err := n.blobs.Put(ctx, sr.GetOutput()); err != nil {
		return err
	}
	meta := &pb.StoredResult{Task: sr.GetTask(), Records: sr.GetRecords(), Single: sr.GetSingle(),
		Steward: sr.GetSteward(), StewardSignature: sr.GetStewardSignature(), Epoch: max(epoch, old.GetEpoch())}
	raw, err := proto.Marshal(meta)
	if err != nil {
		return err
	}
	if err := n.ds.Put(ctx, store.ResultKey(b.id, int(sr.GetTask())), raw); err != nil {
		return err
	}
	if n.held.add(b.id, int(sr.GetTask()), heldResult{single: sr.GetSingle(), mark: n.durable.Mark()}) {
		n.provide(b.id) // "I hold results of this batch"
	}
	n.metrics.ResultsHeld.Inc()
	return nil
}

// storedOutput is the output CID a held result's records accept (they all agree on it).
func storedOutput(sr *pb.StoredResult) cid.Cid {
	for _, rec := range sr.GetRecords() {
		if r, err := tasks.ResultFromPB(rec); err == nil && r.Error == "" {
			return r.Output
		}
	}
	return cid.Undef
}

// loadResult reads a held result, with its output if withOutput.
func (n *Node) loadResult(ctx context.Context, id cid.Cid, task int, withOutput bool) (*pb.StoredResult, error) {
	raw, err := n.ds.Get(ctx, store.ResultKey(id, task))
	if err != nil {
		return nil, err
	}
	var sr pb.StoredResult
	if err := proto.Unmarshal(raw, &sr); err != nil {
		return nil, fmt.Errorf("stored result %s/%d is corrupt: %w", id, task, err)
	}
	if withOutput {
		out, err := tasks.ResultFromPB(sr.Records[0])
		if err != nil {
			return nil, err
		}
		for _, r := range sr.Records {
			if rec, err := tasks.ResultFromPB(r); err == nil && rec.OK() {
				out = rec
				break
			}
		}
		if sr.Output, err = n.blobs.Get(ctx, out.Output); err != nil {
			return nil, err
		}
	}
	return &sr, nil
}

// durableHave completes an answer that names tasks held: what it names is made durable
// first, and it carries the store's incarnation, so that the asker may keep it confirmed
// across this node's restarts (protocol section 12.2).
func (n *Node) durableHave(ctx context.Context, id cid.Cid, resp *pb.ResultResponse) *pb.ResultResponse {
	if len(resp.Have) > 0 {
		if err := n.durable.SyncThrough(ctx, n.held.lastMark(id, resp.Have)); err != nil {
			return &pb.ResultResponse{Error: protocol.ToPB(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))}
		}
	}
	resp.Incarnation = n.durable.Incarnation()
	return resp
}

func (n *Node) handleResult(ctx context.Context, from peer.ID, req *pb.ResultRequest) *pb.ResultResponse {
	if !n.allow(from, p2p.LimitRequest) {
		return &pb.ResultResponse{Error: protocol.ToPB(protocol.Errorf(pb.ErrorCode_RATE_LIMITED, "slow down"))}
	}
	id, err := cid.Cast(req.GetBatchId())
	if err != nil {
		return &pb.ResultResponse{Error: protocol.ToPB(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "batch ID: %v", err))}
	}
	switch body := req.Body.(type) {
	case *pb.ResultRequest_Store:
		b := n.getBatch(id)
		if b == nil {
			if b, _, err = n.addBatch(ctx, body.Store.GetManifest()); err != nil {
				return &pb.ResultResponse{Error: protocol.ToPB(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err))}
			}
			if !b.id.Equals(id) {
				return &pb.ResultResponse{Error: protocol.ToPB(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "manifest is batch %s, not %s", b.id, id))}
			}
		}
		resp := &pb.ResultResponse{}
		for _, sr := range body.Store.GetResults() {
			if err := n.storeResult(ctx, b, sr, body.Store.GetEpoch()); err != nil {
				n.logs.results.Warn("refused a result", "batch", id.String(), "task", sr.GetTask(), "from", shortID(from), "err", err)
				var we *protocol.WireError
				if errors.As(err, &we) && we.Code == pb.ErrorCode_FENCED {
					resp.Error = protocol.ToPB(err) // the storing primary is stale (12.2)
				}
				continue
			}
			resp.Have = append(resp.Have, sr.GetTask())
		}
		return n.durableHave(ctx, id, resp)
	case *pb.ResultRequest_Have:
		resp := &pb.ResultResponse{}
		for _, t := range body.Have.GetTasks() {
			if n.held.has(id, int(t)) {
				resp.Have = append(resp.Have, t)
			}
		}
		return n.durableHave(ctx, id, resp)
	case *pb.ResultRequest_Fetch:
		resp := &pb.ResultResponse{}
		size := 0
		// A steward's own decision comes first: it has every accepted result until its
		// holders do, and it knows when a single-replica result was overturned.
		decided := n.stewardResults(ctx, id, toInts(body.Fetch.GetTasks()))
		for _, t := range body.Fetch.GetTasks() {
			sr, err := decided.get(ctx, n, int(t), body.Fetch.GetWithOutput())
			if err != nil && n.held.has(id, int(t)) {
				sr, err = n.loadResult(ctx, id, int(t), body.Fetch.GetWithOutput())
			}
			if err != nil {
				continue
			}
			if len(resp.Results) > 0 && (size+len(sr.Output) > protocol.MaxOutputsPerMessage || len(resp.Results) >= maxResultsPerMessage) {
				break // the asker asks again for the rest (empty outputs count too)
			}
			size += len(sr.Output)
			resp.Results = append(resp.Results, sr)
		}
		return resp
	}
	return &pb.ResultResponse{Error: protocol.ToPB(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "unknown result request"))}
}

// resultCall sends a result request to p (protocol.ResultClient; this node's own requests
// are handled in-process).
func (n *Node) resultCall(ctx context.Context, p peer.ID, req *pb.ResultRequest) (*pb.ResultResponse, error) {
	return n.resultClient.Send(ctx, p, req)
}

// pushResults stores the given held (or steward-known) results on p, in messages that stay
// under the size limit. It returns the tasks p holds afterwards.
func (n *Node) pushResults(ctx context.Context, b *batch, p peer.ID, results []*pb.StoredResult, epoch uint64) ([]int, error) {
	var have []int
	for len(results) > 0 {
		k, size := 0, 0
		for k < len(results) && (k == 0 || size+len(results[k].Output) <= protocol.MaxOutputsPerMessage && k < maxResultsPerMessage) {
			size += len(results[k].Output)
			k++
		}
		held, err := n.resultClient.Store(ctx, p, b.id, b.raw, results[:k], epoch)
		if err != nil {
			return have, err
		}
		have = append(have, toInts(held)...)
		results = results[k:]
	}
	return have, nil
}

// decidedResults are accepted results from this node's steward state of a batch: the
// agreeing records, and the output the workers sent.
type decidedResults struct {
	id      cid.Cid
	results map[int]*pb.StoredResult
	outputs map[int]cid.Cid
}

// stewardResults reads the accepted results of ts from this node's steward state of batch
// id (none when it keeps none), in one visit to the steward loop.
func (n *Node) stewardResults(ctx context.Context, id cid.Cid, ts []int) decidedResults {
	d := decidedResults{id: id, results: map[int]*pb.StoredResult{}, outputs: map[int]cid.Cid{}}
	b := n.getBatch(id)
	if b == nil {
		return d
	}
	l, _ := n.wake(ctx, b, "results")
	if l == nil {
		return d
	}
	l.inspect(ctx, func(s *steward.Steward) {
		st := s.State()
		for _, task := range ts {
			if task < 0 || task >= st.NumTasks() {
				continue
			}
			t := st.Task(task)
			out, ok := t.Accepted()
			if !ok {
				continue
			}
			sr := &pb.StoredResult{Task: uint32(task), Single: t.Single && !t.Reverified}
			for _, r := range t.Agreeing() {
				sr.Records = append(sr.Records, r.ToPB())
			}
			d.results[task], d.outputs[task] = sr, out
		}
	})
	return d
}

// get is the stored result of task, vouched for when it stood on one trusted peer's word,
// with its output if withOutput.
func (d decidedResults) get(ctx context.Context, n *Node, task int, withOutput bool) (*pb.StoredResult, error) {
	base, ok := d.results[task]
	if !ok {
		return nil, fmt.Errorf("task %d not accepted here", task)
	}
	sr := &pb.StoredResult{Task: base.Task, Records: base.Records}
	if base.Single {
		if err := n.vouchSingle(sr, d.id, d.outputs[task]); err != nil {
			return nil, err
		}
	}
	if withOutput {
		var err error
		if sr.Output, err = n.blobs.Get(ctx, d.outputs[task]); err != nil {
			return nil, err
		}
	}
	return sr, nil
}

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
