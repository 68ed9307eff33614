package node

import (
	"context"
	"fmt"
	"time"

	"allforone/protocol/pb"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// BatchStatus is a batch's progress as the API and `allforone status` show it.
type BatchStatus struct {
	BatchID     string       `json:"batch_id"`
	Name        string       `json:"name"`
	State       string       `json:"state"` // running, complete or failed
	Total       int          `json:"total"`
	Done        int          `json:"done"`
	Failed      int          `json:"failed"`
	Running     int          `json:"running"`
	Executions  int          `json:"executions"`
	Reassigned  int          `json:"reassigned"`
	Single      int          `json:"single"`       // tasks run by one trusted peer (adaptive replication)
	MinReplicas int          `json:"min_replicas"` // fewest live holders of an accepted result
	Replication int          `json:"replication"`  // K
	Redundancy  int          `json:"redundancy"`   // R
	Peers       []PeerStatus `json:"peers"`
	FailedTasks []int        `json:"failed_tasks,omitempty"`
	Steward     string       `json:"steward"`
	// Refused says why the node asked refuses to run the batch's tasks (its module is over
	// the compile budget); empty if it runs them.
	Refused string `json:"refused,omitempty"`
}

// PeerStatus is one peer's share of a batch.
type PeerStatus struct {
	PeerID  string `json:"peer_id"`
	Done    int    `json:"done"`
	Running int    `json:"running"`
	Wrong   int    `json:"wrong,omitempty"`
}

// localStatus summarises b from this node's steward state.
func (n *Node) localStatus(b *batch) BatchStatus {
	b.mu.Lock()
	s := b.st.Summary(time.Now(), n.live)
	b.mu.Unlock()
	out := BatchStatus{
		BatchID: b.id.String(), Name: b.m.Name, State: s.State, Total: s.Total, Done: s.Done,
		Failed: s.Failed, Running: s.Running, Executions: s.Executions, Reassigned: s.Reassigned, Single: s.Single,
		MinReplicas: s.MinReplicas, Replication: int(b.m.Replication), Redundancy: int(b.m.Redundancy),
		FailedTasks: s.FailedTasks, Steward: n.id.String(), Peers: []PeerStatus{},
	}
	for _, p := range s.Peers {
		out.Peers = append(out.Peers, PeerStatus{PeerID: p.Peer.String(), Done: p.Done, Running: p.Running, Wrong: p.Wrong})
	}
	return out
}

func (s BatchStatus) toPB() *pb.BatchStatus {
	p := &pb.BatchStatus{State: s.State, Total: uint32(s.Total), Done: uint32(s.Done), Failed: uint32(s.Failed),
		Running: uint32(s.Running), Executions: uint32(s.Executions), Reassigned: uint32(s.Reassigned), Single: uint32(s.Single),
		MinReplicas: uint32(s.MinReplicas)}
	for _, t := range s.FailedTasks {
		p.FailedTasks = append(p.FailedTasks, uint32(t))
	}
	if id, err := peer.Decode(s.Steward); err == nil {
		p.Steward = []byte(id)
	}
	for _, ps := range s.Peers {
		id, err := peer.Decode(ps.PeerID)
		if err != nil {
			continue
		}
		p.Peers = append(p.Peers, &pb.PeerShare{Peer: []byte(id), Done: uint32(ps.Done), Running: uint32(ps.Running), Wrong: uint32(ps.Wrong)})
	}
	return p
}

func statusFromPB(b *batch, p *pb.BatchStatus) BatchStatus {
	s := BatchStatus{BatchID: b.id.String(), Name: b.m.Name, State: p.GetState(), Total: int(p.GetTotal()),
		Done: int(p.GetDone()), Failed: int(p.GetFailed()), Running: int(p.GetRunning()),
		Executions: int(p.GetExecutions()), Reassigned: int(p.GetReassigned()), Single: int(p.GetSingle()), MinReplicas: int(p.GetMinReplicas()),
		Replication: int(b.m.Replication), Redundancy: int(b.m.Redundancy), FailedTasks: toInts(p.GetFailedTasks()),
		Peers: []PeerStatus{}}
	if id, err := peer.IDFromBytes(p.GetSteward()); err == nil {
		s.Steward = id.String()
	}
	for _, ps := range p.GetPeers() {
		if id, err := peer.IDFromBytes(ps.GetPeer()); err == nil {
			s.Peers = append(s.Peers, PeerStatus{PeerID: id.String(), Done: int(ps.GetDone()), Running: int(ps.GetRunning()), Wrong: int(ps.GetWrong())})
		}
	}
	return s
}

// Status returns a batch's progress: from this node's state when it is the primary steward
// (or the only steward it can reach), else from the primary. Refused is this node's own.
func (n *Node) Status(ctx context.Context, id cid.Cid) (BatchStatus, error) {
	b := n.getBatch(id)
	if b == nil {
		return BatchStatus{}, fmt.Errorf("%w: %s", ErrUnknownBatch, id)
	}
	st, err := n.status(ctx, b, id)
	b.mu.Lock()
	st.Refused = b.refusedModule
	b.mu.Unlock()
	return st, err
}

func (n *Node) status(ctx context.Context, b *batch, id cid.Cid) (BatchStatus, error) {
	req := &pb.StewardRequest{BatchId: id.Bytes(), Body: &pb.StewardRequest_Status{Status: &pb.StatusRequest{}}}
	target := n.closestLive(id, n.stewardCount(b))[0]
	if target == n.id {
		b.mu.Lock()
		has := b.st != nil
		b.mu.Unlock()
		if has {
			return n.localStatus(b), nil
		}
	}
	_, resp, err := n.stewardCall(ctx, b, req)
	if err != nil {
		b.mu.Lock()
		has := b.st != nil
		b.mu.Unlock()
		if has {
			return n.localStatus(b), nil // the best we know
		}
		return BatchStatus{}, fmt.Errorf("no steward of batch %s answers: %w", id, err)
	}
	return statusFromPB(b, resp.GetStatus()), nil
}

// BatchInfo is one line of `allforone batches`.
type BatchInfo struct {
	BatchID   string `json:"batch_id"`
	Name      string `json:"name"`
	Tasks     int    `json:"tasks"`
	Submitter string `json:"submitter"`
	Created   string `json:"created"`
	Steward   bool   `json:"steward"`      // this node keeps its state
	Held      int    `json:"held_results"` // results this node holds
}

// Batches lists the batches this node knows.
func (n *Node) Batches() []BatchInfo {
	var out []BatchInfo
	for _, b := range n.listBatches() {
		b.mu.Lock()
		steward := b.st != nil
		b.mu.Unlock()
		out = append(out, BatchInfo{BatchID: b.id.String(), Name: b.m.Name, Tasks: b.m.NumTasks(),
			Submitter: b.m.Submitter.String(), Created: b.m.CreatedAt.UTC().Format(time.RFC3339),
			Steward: steward, Held: n.HeldResults(b.id)})
	}
	return out
}

var _ = tasks.BatchRunning
