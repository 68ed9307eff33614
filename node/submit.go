package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// SubmitRequest is a batch to submit, as the API takes it (POST /api/v1/batches).
type SubmitRequest struct {
	Name           string            `json:"name"`
	Module         []byte            `json:"module"` // the WebAssembly module (base64 in JSON)
	Inputs         []SubmitInput     `json:"inputs"`
	Args           []string          `json:"args,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	MemoryPages    uint32            `json:"memory_pages"`
	TimeoutMS      uint64            `json:"timeout_ms"`
	MaxOutputBytes uint64            `json:"max_output_bytes"`
	Redundancy     uint32            `json:"redundancy"`   // R
	Replication    uint32            `json:"replication"`  // K
	MaxReplicas    uint32            `json:"max_replicas"` // 0: R + 2
	Adaptive       bool              `json:"adaptive,omitempty"`
	MinRedundancy  uint32            `json:"min_redundancy,omitempty"` // with Adaptive: R of a trusted peer's task (0: 1)
	DeadlineSec    uint64            `json:"deadline_seconds"`         // 0: 24 hours
	// OutputNames, one per task, name the output files when results are written to a
	// folder; this node keeps them. Default: the input names, or task indexes.
	OutputNames []string `json:"output_names,omitempty"`
}

// SubmitInput is one entry of a batch's input list: one task's bytes (named, for output
// file names) or a range of generated tasks.
type SubmitInput struct {
	Name  string       `json:"name,omitempty"`
	Data  []byte       `json:"data,omitempty"`
	Range *tasks.Range `json:"range,omitempty"`
}

// SubmitResult answers a submission.
type SubmitResult struct {
	BatchID  string   `json:"batch_id"`
	Tasks    int      `json:"tasks"`
	Stewards []string `json:"stewards"`
}

// Submit stores the module and inputs, signs the manifest, hands the batch to its stewards
// (which fetch the blobs before they answer, so this node may leave right after) and
// announces it to the swarm.
func (n *Node) Submit(ctx context.Context, req SubmitRequest) (SubmitResult, error) {
	m, names, err := n.buildManifest(ctx, req)
	if err != nil {
		return SubmitResult{}, err
	}
	if err := m.Sign(n.sk); err != nil {
		return SubmitResult{}, err
	}
	raw, err := m.Marshal()
	if err != nil {
		return SubmitResult{}, err
	}
	b, _, err := n.addBatch(ctx, raw)
	if err != nil {
		return SubmitResult{}, fmt.Errorf("%w: %v", ErrBadSubmission, err)
	}
	if len(req.OutputNames) == m.NumTasks() {
		names = req.OutputNames
	}
	if err := n.saveNames(ctx, b.id, names); err != nil {
		return SubmitResult{}, err
	}
	// The datastore writes without syncing; a submitter killed (kill -9, a crash) right
	// after submitting would come back without its own batch. One sync per submission
	// makes the manifest, names and blobs survive that.
	if err := n.syncDatastore(ctx, true); err != nil { // durable.go: a recorded sync point
		return SubmitResult{}, err
	}
	n.provide(m.Module.CID)
	stewards := n.closestLive(b.id, n.stewardCount(b))
	if err := n.handToStewards(ctx, b, stewards); err != nil {
		return SubmitResult{}, err
	}
	if err := n.announce(ctx, raw); err != nil {
		n.log.Warn("announce batch", "batch", b.id.String(), "err", err)
	}
	res := SubmitResult{BatchID: b.id.String(), Tasks: m.NumTasks()}
	for _, s := range stewards {
		res.Stewards = append(res.Stewards, s.String())
	}
	n.log.Info("batch submitted", "batch", b.id.String(), "tasks", m.NumTasks(), "stewards", len(stewards))
	return res, nil
}

// adoptTimeout bounds handing a batch to a steward, which fetches its module and inputs.
const adoptTimeout = 5 * time.Minute

// ErrBadSubmission means a submission was refused for what it contains.
var ErrBadSubmission = errors.New("bad submission")

func (n *Node) buildManifest(ctx context.Context, req SubmitRequest) (*tasks.Manifest, []string, error) {
	if len(req.Module) == 0 {
		return nil, nil, fmt.Errorf("%w: no module", ErrBadSubmission)
	}
	modCID, err := n.blobs.Put(ctx, req.Module)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	deadline := time.Duration(req.DeadlineSec) * time.Second
	if deadline == 0 {
		deadline = tasks.DefaultBatchDeadline
	}
	m := &tasks.Manifest{
		Version:     tasks.ManifestVersion,
		Swarm:       n.cfg.Swarm,
		Name:        req.Name,
		Module:      tasks.BlobRef{CID: modCID, Size: uint64(len(req.Module))},
		Args:        req.Args,
		Env:         req.Env,
		Limits:      tasks.Limits{MemoryPages: req.MemoryPages, Timeout: time.Duration(req.TimeoutMS) * time.Millisecond, MaxOutputBytes: req.MaxOutputBytes},
		Redundancy:  req.Redundancy,
		Replication: req.Replication,
		MaxReplicas: req.MaxReplicas,
		CreatedAt:   time.UnixMilli(now.UnixMilli()),
		Deadline:    time.UnixMilli(now.Add(deadline).UnixMilli()),
		Nonce:       make([]byte, 16),
	}
	m.AdaptiveReplication, m.MinRedundancy = req.Adaptive, req.MinRedundancy
	if m.MaxReplicas == 0 {
		m.MaxReplicas = m.Redundancy + 2
	}
	rand.Read(m.Nonce)
	var names []string
	for i, in := range req.Inputs {
		switch {
		case in.Range != nil:
			m.Inputs = append(m.Inputs, tasks.RangeInput(*in.Range))
			for k := in.Range.Start; k < in.Range.End; k++ {
				names = append(names, fmt.Sprintf("%s%d", in.Name, k))
			}
		case len(in.Data) <= tasks.MaxInlineInput:
			m.Inputs = append(m.Inputs, tasks.InlineInput(in.Data))
			names = append(names, inputName(in.Name, i))
		default:
			c, err := n.blobs.Put(ctx, in.Data)
			if err != nil {
				return nil, nil, err
			}
			m.Inputs = append(m.Inputs, tasks.BlobInput(tasks.BlobRef{CID: c, Size: uint64(len(in.Data))}))
			names = append(names, inputName(in.Name, i))
		}
	}
	if err := m.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadSubmission, err)
	}
	return m, names, nil
}

func inputName(name string, i int) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("%06d", i)
}

// handToStewards sends the batch to each steward and waits until at least one (or this
// node) holds it; a steward that cannot be reached now gets a state copy later.
func (n *Node) handToStewards(ctx context.Context, b *batch, stewards []peer.ID) error {
	var wg sync.WaitGroup
	errs := make([]error, len(stewards))
	for i, s := range stewards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s == n.id {
				_, errs[i] = n.becomeSteward(ctx, b)
				return
			}
			var resp pb.StewardResponse
			ctx, cancel := context.WithTimeout(ctx, adoptTimeout) // the steward fetches the blobs first
			defer cancel()
			err := n.request(ctx, s, protocol.StewardProtocol(n.cfg.Swarm), protocol.MaxStewardMessage,
				&pb.StewardRequest{BatchId: b.id.Bytes(), Body: &pb.StewardRequest_Adopt{Adopt: &pb.Adopt{Manifest: b.raw}}}, &resp)
			if err == nil {
				err = protocol.FromPB(resp.GetError())
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("no steward took the batch: %w", errors.Join(errs...))
}

// adopt takes a batch handed over by its submitter (or a worker): fetch its blobs, then
// keep its state.
func (n *Node) adopt(ctx context.Context, from peer.ID, raw []byte) error {
	b, _, err := n.addBatch(ctx, raw)
	if err != nil {
		return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err)
	}
	if from != b.m.Submitter {
		// A worker hands over a batch this steward missed: take it, and fetch the
		// blobs in the background (leases wait for them), so a batch whose blobs
		// nobody has costs the worker nothing.
		n.fetchInBackground(b, from)
		if _, err := n.becomeSteward(ctx, b); err != nil {
			return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
		}
		return nil
	}
	if err := n.fetchBatchBlobs(ctx, b, from); err != nil {
		return protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "%v", err)
	}
	if _, err := n.becomeSteward(ctx, b); err != nil {
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
	}
	return nil
}

// fetchInBackground fetches b's blobs unless a fetch already runs.
func (n *Node) fetchInBackground(b *batch, hints ...peer.ID) {
	b.mu.Lock()
	if b.fetching {
		b.mu.Unlock()
		return
	}
	b.fetching = true
	b.mu.Unlock()
	n.goLoop("fetch blobs", func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, adoptTimeout)
		defer cancel()
		if err := n.fetchBatchBlobs(ctx, b, hints...); err != nil {
			n.log.Debug("blobs of a batch not found", "batch", b.id.String(), "err", err)
		}
		b.mu.Lock()
		b.fetching = false
		b.mu.Unlock()
	})
}

// hasBatchBlobs reports whether the module and every blob input of b are stored here.
func (n *Node) hasBatchBlobs(ctx context.Context, b *batch) bool {
	if ok, _ := n.blobs.Has(ctx, b.m.Module.CID); !ok {
		return false
	}
	for _, in := range b.m.Inputs {
		if in.Kind == tasks.InputBlob {
			if ok, _ := n.blobs.Has(ctx, in.Blob.CID); !ok {
				return false
			}
		}
	}
	return true
}

// fetchBatchBlobs makes sure the module and every blob input of b are stored here.
func (n *Node) fetchBatchBlobs(ctx context.Context, b *batch, hints ...peer.ID) error {
	hints = append(hints, b.m.Submitter)
	if _, err := n.fetchBlob(ctx, b.m.Module.CID, b.m.Module.Size, hints...); err != nil {
		return fmt.Errorf("module: %w", err)
	}
	n.provide(b.m.Module.CID)
	for _, in := range b.m.Inputs {
		if in.Kind != tasks.InputBlob {
			continue
		}
		if _, err := n.fetchBlob(ctx, in.Blob.CID, in.Blob.Size, hints...); err != nil {
			return fmt.Errorf("input: %w", err)
		}
	}
	return nil
}

// announce publishes the manifest on the batch topic.
func (n *Node) announce(ctx context.Context, raw []byte) error {
	data, err := proto.Marshal(&pb.Announcement{Manifest: raw})
	if err != nil {
		return err
	}
	return n.topics[protocol.BatchTopic(n.cfg.Swarm)].Publish(ctx, data)
}

// batchIDOf parses a batch ID given by a user.
func batchIDOf(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%q is not a batch ID (%v): use the ID that submit printed", s, err)
	}
	return c, nil
}
