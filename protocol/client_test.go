package protocol

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/peer"
)

func grantOf(tasks ...uint32) *pb.StewardResponse {
	g := &pb.LeaseGrant{}
	for _, t := range tasks {
		g.Leases = append(g.Leases, &pb.Lease{Task: t, ExpiresMs: 1, GrantId: uint64(t) + 1})
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: g}}
}

func notSteward(hint peer.ID) *pb.StewardResponse {
	return &pb.StewardResponse{Error: &pb.Error{Code: pb.ErrorCode_NOT_STEWARD, Message: "ask elsewhere", StewardHint: []byte(hint)}}
}

// kinds lists the peer and body of each call, as "peer:body".
func kinds(calls []FakeCall, names map[peer.ID]string) []string {
	var out []string
	for _, c := range calls {
		body := "?"
		switch r := c.Request.(type) {
		case *pb.StewardRequest:
			switch r.GetBody().(type) {
			case *pb.StewardRequest_Lease:
				body = "lease"
			case *pb.StewardRequest_Adopt:
				body = "adopt"
			case *pb.StewardRequest_Status:
				body = "status"
			}
		case *pb.ResultRequest:
			body = "result"
		}
		out = append(out, names[c.Peer]+":"+body)
	}
	return out
}

func TestStewardClientFollowsHintsAndAdoptsOnce(t *testing.T) {
	a, b, self := testPeer(t, 10), testPeer(t, 11), testPeer(t, 12)
	names := map[peer.ID]string{a: "a", b: "b"}
	manifest := []byte("a signed manifest")
	f := &FakeCaller{}
	f.HandleSteward(a, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse { return notSteward(b) })
	adopted := false
	f.HandleSteward(b, "lab", func(_ context.Context, req *pb.StewardRequest) *pb.StewardResponse {
		switch {
		case req.GetAdopt() != nil:
			adopted = string(req.GetAdopt().GetManifest()) == string(manifest)
			return &pb.StewardResponse{Body: &pb.StewardResponse_Ack{Ack: &pb.Ack{}}}
		case !adopted:
			return &pb.StewardResponse{Error: &pb.Error{Code: pb.ErrorCode_UNKNOWN_BATCH}}
		}
		return grantOf(4, 5)
	})
	c := &StewardClient{Caller: f, Swarm: "lab", Self: self}
	from, g, err := c.Lease(t.Context(), Route{Batch: testBatch, Manifest: manifest, First: a}, &pb.LeaseRequest{Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	if from != b || len(g.GetLeases()) != 2 || g.GetLeases()[1].GetTask() != 5 {
		t.Fatalf("granted by %s: %v", from, g)
	}
	if got, want := kinds(f.Calls(), names), []string{"a:lease", "b:lease", "b:adopt", "b:lease"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
}

func TestStewardClientGivesUp(t *testing.T) {
	ps := []peer.ID{testPeer(t, 20), testPeer(t, 21), testPeer(t, 22), testPeer(t, 23), testPeer(t, 24), testPeer(t, 25)}
	f := &FakeCaller{}
	for i := range len(ps) - 1 {
		f.HandleSteward(ps[i], "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse { return notSteward(ps[i+1]) })
	}
	c := &StewardClient{Caller: f, Swarm: "lab"}
	route := Route{Batch: testBatch, First: ps[0]}
	if _, _, err := c.Lease(t.Context(), route, &pb.LeaseRequest{Max: 1}); err == nil || !strings.Contains(err.Error(), "keep redirecting") {
		t.Fatalf("endless redirects: %v", err)
	}
	if n := len(f.Calls()); n != MaxRedirects+1 {
		t.Fatalf("%d requests for %d redirects", n, MaxRedirects)
	}

	// A hint that names the peer asked is not followed: its error is the answer.
	f.HandleSteward(ps[0], "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse { return notSteward(ps[0]) })
	_, _, err := c.Lease(t.Context(), route, &pb.LeaseRequest{Max: 1})
	var we *WireError
	if !errors.As(err, &we) || !errors.Is(err, ErrNotSteward) || we.Hint != ps[0] {
		t.Fatalf("a hint to itself: %v", err)
	}

	// A peer that cannot be reached ends the call.
	f.Down(ps[0], errors.New("connection refused"))
	if _, _, err := c.Lease(t.Context(), route, &pb.LeaseRequest{Max: 1}); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("unreachable steward: %v", err)
	}
}

func TestStewardClientLocalAndMalformedAnswers(t *testing.T) {
	self, other := testPeer(t, 30), testPeer(t, 31)
	f := &FakeCaller{}
	local := 0
	c := &StewardClient{Caller: f, Swarm: "lab", Self: self, Local: func(context.Context, *pb.StewardRequest) *pb.StewardResponse {
		local++
		return &pb.StewardResponse{Error: &pb.Error{Code: pb.ErrorCode_UNKNOWN_BATCH}}
	}}
	// To itself: in-process, and never an Adopt to itself.
	_, _, err := c.Status(t.Context(), Route{Batch: testBatch, First: self})
	if !errors.Is(err, ErrUnknownBatch) || local != 1 || len(f.Calls()) != 0 {
		t.Fatalf("local call: err %v, %d local calls, %d sent", err, local, len(f.Calls()))
	}
	// An answer of the wrong kind, or malformed, is an error saying so.
	f.HandleSteward(other, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Ack{Ack: &pb.Ack{}}}
	})
	_, _, err = c.Lease(t.Context(), Route{Batch: testBatch, First: other}, &pb.LeaseRequest{Max: 1})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "without the grant body") {
		t.Fatalf("an ack for a lease: %v", err)
	}
	f.HandleSteward(other, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse { return grantOf(1, 2, 3) })
	if _, _, err = c.Lease(t.Context(), Route{Batch: testBatch, First: other}, &pb.LeaseRequest{Max: 2}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("three leases for two: %v", err)
	}
}

// A digest's answer is checked as any other: its states signed and well-formed.
func TestStewardClientDigest(t *testing.T) {
	other := testPeer(t, 31)
	f := &FakeCaller{}
	c := &StewardClient{Caller: f, Swarm: "lab", Self: testPeer(t, 30)}
	d := &pb.StateDigest{Tasks: []uint32{1}, Hashes: []uint64{9}}
	answer := &pb.DigestMatch{Want: []uint32{1}}
	f.HandleSteward(other, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Digest{Digest: answer}}
	})
	if m, err := c.Digest(t.Context(), other, testBatch, d); err != nil || !slices.Equal(m.GetWant(), []uint32{1}) {
		t.Fatalf("a valid answer: %v %v", m, err)
	}
	answer.Differing = &pb.StateSnapshot{Tasks: []*pb.TaskState{{Task: 1}}} // unsigned
	if _, err := c.Digest(t.Context(), other, testBatch, d); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "digest.differing.signature") {
		t.Fatalf("unsigned states in the answer: %v", err)
	}
}

func TestResultClient(t *testing.T) {
	holder := testPeer(t, 40)
	f := &FakeCaller{}
	f.HandleResult(holder, "lab", func(_ context.Context, req *pb.ResultRequest) *pb.ResultResponse {
		switch {
		case req.GetStore() != nil:
			return &pb.ResultResponse{Have: []uint32{req.GetStore().GetResults()[0].GetTask()}}
		case req.GetHave() != nil:
			return &pb.ResultResponse{Have: req.GetHave().GetTasks()[:1]}
		}
		var out []*pb.StoredResult
		for _, task := range req.GetFetch().GetTasks() {
			out = append(out, &pb.StoredResult{Task: task + 1, Records: []*pb.ResultRecord{okRecord(t, task+1)}}) // off by one
		}
		return &pb.ResultResponse{Results: out}
	})
	c := &ResultClient{Caller: f, Swarm: "lab"}
	sr := &pb.StoredResult{Task: 3, Output: []byte("42\n"), Records: []*pb.ResultRecord{okRecord(t, 3)}}
	if have, err := c.Store(t.Context(), holder, testBatch, nil, []*pb.StoredResult{sr}, 0); err != nil || !slices.Equal(have, []uint32{3}) {
		t.Fatalf("store: %v, %v", have, err)
	}
	if have, err := c.Have(t.Context(), holder, testBatch, []uint32{7, 8}); err != nil || !slices.Equal(have, []uint32{7}) {
		t.Fatalf("have: %v, %v", have, err)
	}
	if _, err := c.Fetch(t.Context(), holder, testBatch, []uint32{1}, true); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "did not ask for") {
		t.Fatalf("a holder that answers with another task: %v", err)
	}
	// The fake frames as a stream does: a message over the limit fails as TOO_LARGE.
	if err := f.Call(t.Context(), holder, ResultProtocol("lab"), 8, &pb.ResultRequest{BatchId: testBatch.Bytes()}, &pb.ResultResponse{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a request over the limit: %v", err)
	}
}

// Hints that lead in a circle (two stewards that missed where the role went name each
// other) send the request to the next steward of the route, which is the primary.
func TestStewardClientLeavesAHintCircleForTheNextSteward(t *testing.T) {
	a, b, p := testPeer(t, 30), testPeer(t, 31), testPeer(t, 32)
	names := map[peer.ID]string{a: "a", b: "b", p: "p"}
	f := &FakeCaller{}
	f.HandleSteward(a, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse { return notSteward(b) })
	f.HandleSteward(b, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse { return notSteward(a) })
	f.HandleSteward(p, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse { return grantOf(1) })
	c := &StewardClient{Caller: f, Swarm: "lab"}
	from, g, err := c.Lease(t.Context(), Route{Batch: testBatch, First: a, Next: []peer.ID{a, b, p}}, &pb.LeaseRequest{Max: 1})
	if err != nil || from != p || len(g.GetLeases()) != 1 {
		t.Fatalf("granted by %s: %v, %v", names[from], g, err)
	}
	if got, want := kinds(f.Calls(), names), []string{"a:lease", "b:lease", "p:lease"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
}
