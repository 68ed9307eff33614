package protocol

import (
	"fmt"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
)

// Validation of the steward protocol (README.md section 10).

// ValidateStewardRequest checks a steward request before it is handled: a batch ID that is
// a content ID (every body but list), a body this version knows, and each body's own
// shape: bounded task lists; a Complete's records well-formed, of this batch, with one
// output per record (empty for a failure, output_size bytes for a success) and no more
// notes than records; a StateDelta signed, with well-formed task states and, when it
// carries the manifest, the manifest of this batch; an Adopt with this batch's manifest; a
// StateDigest with one hash per task, its tasks ascending.
func ValidateStewardRequest(req *pb.StewardRequest) error {
	c := check{"StewardRequest"}
	if req.GetList() != nil {
		return nil // ListBatches names no batch
	}
	id, err := c.batchID("batch_id", req.GetBatchId())
	if err != nil {
		return err
	}
	switch body := req.GetBody().(type) {
	case *pb.StewardRequest_Lease:
		return c.tasks("lease.holding", body.Lease.GetHolding())
	case *pb.StewardRequest_Renew:
		return c.tasks("renew.tasks", body.Renew.GetTasks())
	case *pb.StewardRequest_Return:
		return c.tasks("return.tasks", body.Return.GetTasks())
	case *pb.StewardRequest_Complete:
		return c.complete("complete", body.Complete, id)
	case *pb.StewardRequest_Delta:
		d := body.Delta
		if err := c.manifest("delta.manifest", d.GetManifest(), false, id); err != nil {
			return err
		}
		if err := c.taskStates("delta.tasks", d.GetTasks(), id); err != nil {
			return err
		}
		if err := c.votingSet("delta.voting_set", d.GetVotingSet()); err != nil {
			return err
		}
		return c.signature("delta.signature", d.GetSignature())
	case *pb.StewardRequest_Adopt:
		return c.manifest("adopt.manifest", body.Adopt.GetManifest(), true, id)
	case *pb.StewardRequest_Vote:
		return c.vote("vote", body.Vote)
	case *pb.StewardRequest_Digest:
		return c.digest("digest", body.Digest)
	case *pb.StewardRequest_Pull, *pb.StewardRequest_Status:
		return nil
	}
	return c.bad("", "has no body, or one this peer does not know (from a newer version?): send one of lease, renew, return, complete, delta, pull, status, adopt, list, vote, digest")
}

// complete checks a Complete of batch (section 10.4).
func (c check) complete(field string, m *pb.Complete, batch cid.Cid) error {
	recs, outs := m.GetRecords(), m.GetOutputs()
	switch {
	case len(recs) > MaxResultsPerMessage:
		return c.bad(field+".records", "has %d records: send at most %d per message", len(recs), MaxResultsPerMessage)
	case len(outs) != len(recs):
		return c.bad(field+".outputs", "has %d entries for %d records: send one per record, an empty one for a failure", len(outs), len(recs))
	case len(m.GetNotes()) > len(recs):
		return c.bad(field+".notes", "has %d notes for %d records: notes[i] is about records[i]", len(m.GetNotes()), len(recs))
	}
	for i, r := range recs {
		if err := c.record(r, batch, -1); err != nil {
			return within(err, fmt.Sprintf("%s.records[%d]", field, i))
		}
		switch {
		case r.GetError() != "" && len(outs[i]) > 0:
			return c.bad(fmt.Sprintf("%s.outputs[%d]", field, i), "has %d bytes for a failed record: send an empty entry", len(outs[i]))
		case r.GetError() == "" && uint64(len(outs[i])) != r.GetOutputSize():
			return c.bad(fmt.Sprintf("%s.outputs[%d]", field, i), "has %d bytes but its record says output_size %d", len(outs[i]), r.GetOutputSize())
		}
	}
	return nil
}

// vote checks a PrimaryVote (section 10.12): an epoch from 1, a lease of at most
// MaxPrimaryLease, and a steward set of distinct peer IDs.
func (c check) vote(field string, v *pb.PrimaryVote) error {
	switch {
	case v.GetEpoch() == 0:
		return c.bad(field+".epoch", "is 0: epochs start at 1; ask for one above the highest you know")
	case v.GetDurationMs() == 0 || v.GetDurationMs() > uint32(MaxPrimaryLease.Milliseconds()):
		return c.bad(field+".duration_ms", "is %d: a primary lease is 1 to %d ms", v.GetDurationMs(), MaxPrimaryLease.Milliseconds())
	}
	if err := c.peerSet(field+".stewards", v.GetStewards()); err != nil {
		return err
	}
	return c.votingSet(field+".voting_set", v.GetVotingSet())
}

// votingSet checks a VotingSet (section 10.12), which may be absent: a fixed one has an
// epoch and a set, and each list names at most MaxStewardSet distinct peers.
func (c check) votingSet(field string, v *pb.VotingSet) error {
	switch {
	case v == nil:
		return nil
	case v.GetEpoch() == 0:
		return c.bad(field+".epoch", "is 0: a voting set is fixed by a primary of some epoch; send none instead")
	case len(v.GetSet()) == 0:
		return c.bad(field+".set", "is empty: a voting set names its stewards")
	}
	if err := c.peerSet(field+".set", v.GetSet()); err != nil {
		return err
	}
	return c.peerSet(field+".next", v.GetNext())
}

// peerSet checks a list of at most MaxStewardSet distinct binary peer IDs.
func (c check) peerSet(field string, ps [][]byte) error {
	if len(ps) > MaxStewardSet {
		return c.bad(field, "has %d peers: name at most %d", len(ps), MaxStewardSet)
	}
	seen := make(map[string]bool, len(ps))
	for i, p := range ps {
		if err := c.peerID("", p); err != nil {
			return within(err, fmt.Sprintf("%s[%d]", field, i))
		}
		if seen[string(p)] {
			return c.bad(fmt.Sprintf("%s[%d]", field, i), "names a peer again: list each steward once")
		}
		seen[string(p)] = true
	}
	return nil
}

// digest checks a StateDigest (section 10.13): one hash per task, tasks strictly ascending
// and in range.
func (c check) digest(field string, d *pb.StateDigest) error {
	ts := d.GetTasks()
	if err := c.tasks(field+".tasks", ts); err != nil {
		return err
	}
	if len(d.GetHashes()) != len(ts) {
		return c.bad(field+".hashes", "has %d hashes for %d tasks: send one per task", len(d.GetHashes()), len(ts))
	}
	for i := 1; i < len(ts); i++ {
		if ts[i] <= ts[i-1] {
			return c.bad(fmt.Sprintf("%s.tasks[%d]", field, i), "is %d after %d: list the tasks once each, ascending", ts[i], ts[i-1])
		}
	}
	if n := len(ts); n > 0 {
		return c.task(fmt.Sprintf("%s.tasks[%d]", field, n-1), ts[n-1])
	}
	return nil
}

// hintAddrs checks an Error's steward_addrs: at most MaxHintAddrs, each at most
// MaxAddrSize bytes, and only with a hint. One that does not parse is dropped by FromPB.
func (c check) hintAddrs(e *pb.Error) error {
	addrs := e.GetStewardAddrs()
	switch {
	case len(addrs) > 0 && len(e.GetStewardHint()) == 0:
		return c.bad("error.steward_addrs", "has addresses but steward_hint is empty: they are the hinted peer's")
	case len(addrs) > MaxHintAddrs:
		return c.bad("error.steward_addrs", "has %d addresses: send at most %d", len(addrs), MaxHintAddrs)
	}
	for i, a := range addrs {
		if len(a) > MaxAddrSize {
			return c.bad(fmt.Sprintf("error.steward_addrs[%d]", i), "is %d bytes: an address is at most %d", len(a), MaxAddrSize)
		}
	}
	return nil
}

// ValidateStewardResponse checks the answer to req: an error (any code: an unknown one
// reads as INTERNAL; its hint addresses bounded), or the body req asks for, of the right
// shape. A VoteGrant grants the epoch asked for. A LeaseGrant has at
// most the leases asked for (and MaxLeasesPerGrant), each on another task; a
// StateSnapshot is signed, with well-formed task states and the manifest of req's batch;
// a BatchStatus names its peers by valid IDs and lists at most MaxListedFailures
// failures; a BatchList has at most MaxListedBatches manifests within the manifest size.
func ValidateStewardResponse(resp *pb.StewardResponse, req *pb.StewardRequest) error {
	c := check{"StewardResponse"}
	if resp.GetError().GetCode() != pb.ErrorCode_OK {
		return c.hintAddrs(resp.GetError())
	}
	want := ""
	switch req.GetBody().(type) {
	case *pb.StewardRequest_Lease:
		if g := resp.GetGrant(); g != nil {
			return c.grant("grant", g, req.GetLease().GetMax())
		}
		want = "grant"
	case *pb.StewardRequest_Renew, *pb.StewardRequest_Return, *pb.StewardRequest_Complete,
		*pb.StewardRequest_Delta, *pb.StewardRequest_Adopt:
		if resp.GetAck() != nil {
			return nil
		}
		want = "ack"
	case *pb.StewardRequest_Pull:
		if s := resp.GetSnapshot(); s != nil {
			id, err := c.batchID("(request) batch_id", req.GetBatchId())
			if err != nil {
				return err
			}
			if err := c.manifest("snapshot.manifest", s.GetManifest(), false, id); err != nil {
				return err
			}
			if err := c.taskStates("snapshot.tasks", s.GetTasks(), id); err != nil {
				return err
			}
			if err := c.votingSet("snapshot.voting_set", s.GetVotingSet()); err != nil {
				return err
			}
			return c.signature("snapshot.signature", s.GetSignature())
		}
		want = "snapshot"
	case *pb.StewardRequest_Status:
		if s := resp.GetStatus(); s != nil {
			return c.status("status", s)
		}
		want = "status"
	case *pb.StewardRequest_List:
		if l := resp.GetBatches(); l != nil {
			return c.batchList("batches", l)
		}
		want = "batches"
	case *pb.StewardRequest_Vote:
		if v := resp.GetVote(); v != nil {
			if asked := req.GetVote().GetEpoch(); v.GetEpoch() != asked {
				return c.bad("vote.epoch", "is %d for a request of epoch %d: a vote grants the epoch asked for, a refusal is an error", v.GetEpoch(), asked)
			}
			if v.GetDurationMs() == 0 {
				return c.bad("vote.duration_ms", "is 0: a vote says how long its promise holds")
			}
			return nil
		}
		want = "vote"
	case *pb.StewardRequest_Digest:
		if d := resp.GetDigest(); d != nil {
			if err := c.tasks("digest.want", d.GetWant()); err != nil {
				return err
			}
			if s := d.GetDiffering(); s != nil {
				id, err := c.batchID("(request) batch_id", req.GetBatchId())
				if err != nil {
					return err
				}
				if err := c.taskStates("digest.differing.tasks", s.GetTasks(), id); err != nil {
					return err
				}
				return c.signature("digest.differing.signature", s.GetSignature())
			}
			return nil
		}
		want = "digest"
	default:
		return c.bad("", "answers a request with no body")
	}
	return c.bad("", "is a success without the %s body its request asks for", want)
}

// grant checks a LeaseGrant for a request of up to max leases.
func (c check) grant(field string, g *pb.LeaseGrant, max uint32) error {
	ls := g.GetLeases()
	if limit := min(int(max), MaxLeasesPerGrant); len(ls) > limit {
		return c.bad(field+".leases", "has %d leases for a request of %d: at most %d", len(ls), max, limit)
	}
	seen := make(map[uint32]bool, len(ls))
	for i, l := range ls {
		if err := c.task("task", l.GetTask()); err != nil {
			return within(err, fmt.Sprintf("%s.leases[%d]", field, i))
		}
		if seen[l.GetTask()] {
			return c.bad(fmt.Sprintf("%s.leases[%d].task", field, i), "is %d again: one worker gets at most one lease per task", l.GetTask())
		}
		seen[l.GetTask()] = true
	}
	return nil
}

// status checks a BatchStatus (section 10.9).
func (c check) status(field string, s *pb.BatchStatus) error {
	if len(s.GetSteward()) > 0 {
		if err := c.peerID(field+".steward", s.GetSteward()); err != nil {
			return err
		}
	}
	for i, p := range s.GetPeers() {
		if err := c.peerID("peer", p.GetPeer()); err != nil {
			return within(err, fmt.Sprintf("%s.peers[%d]", field, i))
		}
	}
	if err := c.tasks(field+".failed_tasks", s.GetFailedTasks()); err != nil {
		return err
	}
	if n := len(s.GetFailures()); n > MaxListedFailures {
		return c.bad(field+".failures", "has %d entries: list at most %d and count the rest in failures_omitted", n, MaxListedFailures)
	}
	return nil
}

// batchList checks a BatchList (section 10.10); each manifest is checked in full by the
// receiver when it registers the batch.
func (c check) batchList(field string, l *pb.BatchList) error {
	ms := l.GetManifests()
	if len(ms) > MaxListedBatches {
		return c.bad(field+".manifests", "has %d manifests: list at most %d", len(ms), MaxListedBatches)
	}
	for i, m := range ms {
		if err := c.manifest("", m, true, cid.Undef); err != nil {
			return within(err, fmt.Sprintf("%s.manifests[%d]", field, i))
		}
	}
	return nil
}
