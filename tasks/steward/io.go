package steward

import (
	"log/slog"
	"time"

	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/placement"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ReqID names a request whose reply the driver waits for; the driver chooses them.
type ReqID uint64

// Input is one thing that happened, stepped into a Steward.
type Input interface{ input() }

// Tick says that time passed: leases expire, departed workers' leases return to the pool,
// results short of holders are stored again, failed copies are retried.
type Tick struct{ Now time.Time }

// Members says that the membership view changed.
type Members struct{ View *placement.View }

// LeaseRequest is a worker asking for up to Max leases.
type LeaseRequest struct {
	Req  ReqID
	From peer.ID
	Now  time.Time
	Max  int
	// HoldingSet says that Holding lists every task of the batch the worker holds a lease
	// on; the steward returns its other leases to the pool at once (it restarted).
	HoldingSet bool
	Holding    []int
	// MemoryMB is the worker's memory cap per task (0: not said); below the batch's
	// limit, the worker declines the batch.
	MemoryMB uint32
	// BlobsHere says that this node has the batch's module and blob inputs (workers fetch
	// them from their steward).
	BlobsHere bool
}

// Renew is a worker extending its leases on Tasks.
type Renew struct {
	Req   ReqID
	From  peer.ID
	Now   time.Time
	Tasks []int
}

// Return is a worker handing back its leases on Tasks unrun.
type Return struct {
	Req   ReqID
	From  peer.ID
	Now   time.Time
	Tasks []int
}

// Complete is a worker's finished tasks. The driver has checked every record: signed by
// From, of this batch, within the output limit, its output stored here.
type Complete struct {
	Req     ReqID
	From    peer.ID
	Now     time.Time
	Records []tasks.ResultRecord
	Notes   map[int]tasks.FailureNote // by task: what the worker says about a failure
}

// TaskCopy is one task's state from another steward, its records verified.
type TaskCopy struct {
	Task  int
	State tasks.TaskState
}

// StateCopy is another steward's copy of changed tasks (a state delta).
// DigestQuery asks how this steward's state differs from the primary's digest
// (Copy.Digest); the Reply says in Want and Differing.
type DigestQuery struct {
	Req    ReqID
	From   peer.ID
	Now    time.Time
	Digest Digest
	Epoch  uint64
}

// Digest is a state by task hashes (protocol.TaskHash): Tasks are the tasks with state,
// ascending, Hashes[i] the hash of Tasks[i].
type Digest struct {
	Tasks  []int
	Hashes []uint64
}

type StateCopy struct {
	Req    ReqID
	From   peer.ID
	Now    time.Time
	Tasks  []TaskCopy
	Epoch  uint64 // the sender's primary epoch (StateDelta.epoch); 0 from one without
	Voters Voters // the sender's voting set (StateDelta.voting_set)
}

// Pulled is the answer of a steward this one pulled state from (Ready.Pull); Err when it
// gave none.
type Pulled struct {
	From   peer.ID
	Tasks  []TaskCopy
	Err    error
	Epoch  uint64 // the epoch the answering steward promised (StateSnapshot.epoch)
	Voters Voters // the answering steward's voting set (StateSnapshot.voting_set)
}

// Stored is a holder's acknowledgement of a Store: it holds Stored, and Failed did not
// reach it (or no output was found to send).
type Stored struct {
	Holder peer.ID
	Stored []int
	Failed []int
	// Epoch, when the holder refused the store as FENCED: the higher epoch it stored
	// under. The primary gives its lease up.
	Epoch uint64
}

// CopySent is the outcome of a Copy.
type CopySent struct {
	To   peer.ID
	Seq  uint64 // the Copy's
	Full bool
	Err  error
	// The answer to a digest copy: the tasks the steward wants this one's state of, and
	// its own states of the tasks that differ (verified), to merge. Differs: it could not
	// tell (it does not know the batch, or digests): a full copy follows.
	Want    []int
	Theirs  []TaskCopy
	Differs bool
}

// Left says that a peer has no connection left: its leases return to the pool.
type Left struct {
	Peer peer.ID
	Now  time.Time
}

// Reverify says that Peer was caught lying: tasks it ran alone are checked again.
type Reverify struct{ Peer peer.ID }

// HandOff is a graceful stop: the primary gives every other steward a full copy and
// stores what is pending. Its reply comes once that is done.
type HandOff struct{ Req ReqID }

// Release is the end of a graceful stop, after HandOff: a primary under primary leases
// (fence.go) gives its lease up at once instead of letting it run out, so the next steward
// need not wait a lease to take over. Its reply comes at once.
type Release struct {
	Req ReqID
	Now time.Time
}

// StatusQuery asks for the batch's progress.
type StatusQuery struct {
	Req ReqID
	Now time.Time
}

// SnapshotQuery asks for every task's state (another steward pulls it).
type SnapshotQuery struct{ Req ReqID }

func (Tick) input()          {}
func (Members) input()       {}
func (LeaseRequest) input()  {}
func (Renew) input()         {}
func (Return) input()        {}
func (Complete) input()      {}
func (StateCopy) input()     {}
func (DigestQuery) input()   {}
func (Pulled) input()        {}
func (Stored) input()        {}
func (CopySent) input()      {}
func (Left) input()          {}
func (Reverify) input()      {}
func (HandOff) input()       {}
func (Release) input()       {}
func (StatusQuery) input()   {}
func (SnapshotQuery) input() {}

// Ready is what the driver does after one or more Steps: persist, then log, apply verdicts
// and blocks, send the replies, and send copies, stores and pulls, stepping their answers
// back in. A reply that must wait for copies and stores (a completion's) comes in the
// Ready after their answers.
type Ready struct {
	Replies []Reply
	// Persist are task states to write to the datastore before any reply is sent.
	Persist []*pb.TaskState
	// Copies are state copies to other stewards (at most one in flight to each); each
	// answer comes back as CopySent.
	Copies []Copy
	// Stores are accepted results to store on holders; each answer comes back as Stored.
	Stores []Store
	// Pull are stewards to ask for their state; each answer comes back as Pulled.
	Pull []peer.ID
	// Verdicts are how executors' results fared against the quorum, for the trust records.
	Verdicts []Verdict
	// Block are peers to block: a distrusted worker, once its refusal is on its way.
	Block []Block
	// Protect are workers holding leases: keep their connections.
	Protect []peer.ID
	// FetchBlobs asks the driver to fetch the batch's blobs (a worker wanted leases and
	// they are not here yet).
	FetchBlobs bool
	// Accepted counts tasks accepted in this step (a metric).
	Accepted int
	// Promise, when set, is this steward's new promise (fence.go): persist it before any
	// reply, vote or copy of this Ready goes out.
	Promise *Promise
	// Votes are votes to ask for (fence.go); each answer comes back as VoteAnswer.
	Votes []VoteAsk
	// Voters, when set, is this steward's new voting set (fence_voters.go): persist it,
	// like Promise, before anything of this Ready goes out.
	Voters *Voters
	// Events are what to log.
	Events []Event
}

// Empty reports whether there is nothing to do.
func (r *Ready) Empty() bool {
	return len(r.Replies) == 0 && len(r.Persist) == 0 && len(r.Copies) == 0 && len(r.Stores) == 0 &&
		len(r.Pull) == 0 && len(r.Verdicts) == 0 && len(r.Block) == 0 && len(r.Protect) == 0 &&
		!r.FetchBlobs && r.Accepted == 0 && len(r.Events) == 0 && r.Promise == nil && len(r.Votes) == 0 && r.Voters == nil
}

// Reply answers a request.
type Reply struct {
	Req   ReqID
	Err   error // a *protocol.WireError
	Grant *pb.LeaseGrant
	// Empty: a lease request that could be granted got nothing. A worker that asks again
	// and again for nothing (it ignores retry_after, or hoards leases it never runs) is
	// what the node's lease rate limit counts.
	Empty    bool
	Status   *Status
	Snapshot []*pb.TaskState
	Vote     *pb.VoteGrant // a vote granted (VoteRequest)
	// The answer to a DigestQuery: the tasks of the digest this steward has another state
	// of, or none, and its states of the tasks that differ or that the digest lacks.
	Want      []int
	Differing []*pb.TaskState
	// Epoch goes with a Snapshot: the epoch this steward promised (StateSnapshot.epoch),
	// and Voters its voting set (StateSnapshot.voting_set).
	Epoch  uint64
	Voters Voters
}

// Status is the batch's progress, for a StatusQuery.
type Status struct {
	Summary tasks.Summary
	Waiting []WaitReason
}

// Copy is a state copy to another steward.
type Copy struct {
	To  peer.ID
	Seq uint64 // its place among the copies to To (0: a demoted primary's hand-back)
	// Full: every task with state, for a steward that may have none.
	Full bool
	// Manifest: send the manifest along (the steward may not know the batch yet).
	Manifest bool
	Tasks    []*pb.TaskState
	Epoch    uint64 // the primary's epoch (StateDelta.epoch); 0 without epochs
	Voters   Voters // the primary's voting set (StateDelta.voting_set)
	// Digest, when set, makes this a question instead (StateDigest): which tasks of this
	// finished batch does the steward have another state of? It carries no tasks; once
	// answered it counts as a full copy sent, and the tasks that differ go next.
	Digest *Digest
}

// Store is accepted results to store on one holder.
type Store struct {
	Holder  peer.ID
	Results []StoreResult
	Epoch   uint64 // the primary's epoch (StoreResults.epoch); 0 without epochs
}

// StoreResult is one accepted result to store.
type StoreResult struct {
	Task       int
	Records    []tasks.ResultRecord // the agreeing records
	Output     cid.Cid
	OutputSize uint64
	// Vouch: the task was accepted on one trusted peer's word; the driver adds this
	// steward's signed statement.
	Vouch bool
	// Hints are where the output may be fetched from when it is not here.
	Hints []peer.ID
}

// Verdict is how one executor's result fared against an accepted output.
type Verdict struct {
	Peer   peer.ID
	Agreed bool
}

// Block is a peer to block after a while.
type Block struct {
	Peer   peer.ID
	After  time.Duration
	Reason string
}

// Event is a line to log.
type Event struct {
	Level slog.Level
	Msg   string
	Args  []any // key/value pairs
}
