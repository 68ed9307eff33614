package protocol

import (
	"errors"
	"strings"
	"testing"

	"allforone/protocol/pb"

	ma "github.com/multiformats/go-multiaddr"
)

// Primary epochs (section 10.12): the shape of a vote and its answer, the FENCED error
// with its epoch and the hinted peer's addresses, and a task state's decision.
func TestValidateFencing(t *testing.T) {
	p1, p2 := []byte(testPeer(t, 1)), []byte(testPeer(t, 2))
	vote := func(v *pb.PrimaryVote) *pb.StewardRequest { return stewardRequest(v) }
	if err := ValidateStewardRequest(vote(&pb.PrimaryVote{Epoch: 1, DurationMs: 10000, Stewards: [][]byte{p1, p2}})); err != nil {
		t.Fatalf("a valid vote: %v", err)
	}
	set := &pb.VotingSet{Epoch: 2, Seq: 1, Set: [][]byte{p1, p2}, Next: [][]byte{p2}}
	if err := ValidateStewardRequest(vote(&pb.PrimaryVote{Epoch: 3, DurationMs: 10000, VotingSet: set})); err != nil {
		t.Fatalf("a valid vote with a voting set: %v", err)
	}
	bad := []struct {
		name  string
		v     *pb.PrimaryVote
		field string
	}{
		{"epoch 0", &pb.PrimaryVote{DurationMs: 10000}, "vote.epoch"},
		{"no duration", &pb.PrimaryVote{Epoch: 1}, "vote.duration_ms"},
		{"too long", &pb.PrimaryVote{Epoch: 1, DurationMs: uint32(MaxPrimaryLease.Milliseconds()) + 1}, "vote.duration_ms"},
		{"a steward twice", &pb.PrimaryVote{Epoch: 1, DurationMs: 1, Stewards: [][]byte{p1, p1}}, "vote.stewards[1]"},
		{"a steward that is no peer", &pb.PrimaryVote{Epoch: 1, DurationMs: 1, Stewards: [][]byte{{1, 2}}}, "vote.stewards[0]"},
		{"too many stewards", &pb.PrimaryVote{Epoch: 1, DurationMs: 1, Stewards: make([][]byte, MaxStewardSet+1)}, "vote.stewards"},
		{"a voting set of epoch 0", &pb.PrimaryVote{Epoch: 1, DurationMs: 1, VotingSet: &pb.VotingSet{Set: [][]byte{p1}}}, "vote.voting_set.epoch"},
		{"an empty voting set", &pb.PrimaryVote{Epoch: 1, DurationMs: 1, VotingSet: &pb.VotingSet{Epoch: 1}}, "vote.voting_set.set"},
		{"a voter twice", &pb.PrimaryVote{Epoch: 1, DurationMs: 1, VotingSet: &pb.VotingSet{Epoch: 1, Set: [][]byte{p1}, Next: [][]byte{p2, p2}}}, "vote.voting_set.next[1]"},
		{"a voter that is no peer", &pb.PrimaryVote{Epoch: 1, DurationMs: 1, VotingSet: &pb.VotingSet{Epoch: 1, Set: [][]byte{{7}}}}, "vote.voting_set.set[0]"},
	}
	for _, c := range bad {
		err := ValidateStewardRequest(vote(c.v))
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != c.field || !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want a BAD_REQUEST about %s", c.name, err, c.field)
		}
	}

	req := vote(&pb.PrimaryVote{Epoch: 3, DurationMs: 10000})
	grant := func(epoch uint64, ms uint32) *pb.StewardResponse {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Vote{Vote: &pb.VoteGrant{Epoch: epoch, DurationMs: ms}}}
	}
	if err := ValidateStewardResponse(grant(3, 10000), req); err != nil {
		t.Fatalf("a valid vote grant: %v", err)
	}
	for name, resp := range map[string]*pb.StewardResponse{
		"another epoch":        grant(2, 10000),
		"no duration":          grant(3, 0),
		"an ack":               {Body: &pb.StewardResponse_Ack{Ack: &pb.Ack{}}},
		"addrs without a hint": {Error: &pb.Error{Code: pb.ErrorCode_FENCED, StewardAddrs: [][]byte{{4}}}},
		"too many addrs":       {Error: &pb.Error{Code: pb.ErrorCode_NOT_STEWARD, StewardHint: p1, StewardAddrs: make([][]byte, MaxHintAddrs+1)}},
		"an oversized addr":    {Error: &pb.Error{Code: pb.ErrorCode_NOT_STEWARD, StewardHint: p1, StewardAddrs: [][]byte{make([]byte, MaxAddrSize+1)}}},
	} {
		if err := ValidateStewardResponse(resp, req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}

	// FENCED round-trips with its epoch and the hint's addresses; an address that does not
	// parse is dropped, the others kept.
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	sent := &WireError{Code: pb.ErrorCode_FENCED, Message: "epoch 2 is stale: epoch 5 is promised", Hint: testPeer(t, 3), Addrs: []ma.Multiaddr{addr}, Epoch: 5}
	e := ToPB(sent)
	e.StewardAddrs = append([][]byte{{0xff, 0xff}}, e.StewardAddrs...)
	if err := ValidateStewardResponse(&pb.StewardResponse{Error: e}, req); err != nil {
		t.Fatalf("a FENCED answer: %v", err)
	}
	var we *WireError
	got := FromPB(e)
	if !errors.As(got, &we) || !errors.Is(got, ErrFenced) || we.Epoch != 5 || we.Hint != sent.Hint || len(we.Addrs) != 1 || !we.Addrs[0].Equal(addr) {
		t.Fatalf("FENCED read back as %#v", got)
	}
	if !strings.Contains(got.Error(), "primary epoch refused: epoch 2 is stale") {
		t.Fatalf("message %q", got.Error())
	}
	// An older peer's codes stop at INTERNAL: FENCED is new, and reads as INTERNAL there,
	// which a client treats as "retry elsewhere".
	if pb.ErrorCode_FENCED != pb.ErrorCode_INTERNAL+1 {
		t.Fatal("FENCED is the code after INTERNAL")
	}

	// A task state's decision: an output named by a content ID, with the epoch that made it.
	st := func(epoch uint64, out []byte) *pb.StewardRequest {
		return stewardRequest(&pb.StateDelta{Tasks: []*pb.TaskState{{Task: 1, DecidedEpoch: epoch, DecidedOutput: out}}, Signature: testSig, Epoch: 4})
	}
	if err := ValidateStewardRequest(st(2, testOutput.Bytes())); err != nil {
		t.Fatalf("a decided task: %v", err)
	}
	if err := ValidateStewardRequest(st(2, nil)); err != nil {
		t.Fatalf("a task decided failed: %v", err)
	}
	for name, req := range map[string]*pb.StewardRequest{
		"an output without an epoch": st(0, testOutput.Bytes()),
		"an output that is no CID":   st(2, []byte("x")),
	} {
		var ie *InvalidError
		if err := ValidateStewardRequest(req); !errors.As(err, &ie) || !strings.HasPrefix(ie.Field, "delta.tasks[0].decided_output") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
