package protocol

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/proto"
)

// Fuzz targets, one per message a peer can send us: arbitrary bytes are decoded as that
// message (through the framing, as off a stream) and validated. Neither may panic; what
// passes must pass again after a round trip through the encoding (validation depends on the
// content only), and what the validation lets through must be safe to use the way the node
// uses it. Seeds are in testdata/fuzz/<target>; ALLFORONE_WRITE_CORPUS=1 go test -run
// TestWriteSeedCorpus ./protocol rewrites them from seedMessages.

const fuzzLimit = 1 << 20 // smaller than the protocols' limits: the fuzzer's inputs are small

// decodeFrame reads one framed message of type M from data.
func decodeFrame[M proto.Message](data []byte, m M) bool {
	return ReadMsg(bufio.NewReader(bytes.NewReader(data)), fuzzLimit, m) == nil
}

// again re-encodes m, decodes it into a fresh message and returns that.
func again[M proto.Message](t *testing.T, m M, fresh M) M {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteMsg(&buf, m); err != nil {
		t.Fatalf("re-encode %T: %v", m, err)
	}
	if !decodeFrame(buf.Bytes(), fresh) {
		t.Fatalf("%T does not decode after a round trip", m)
	}
	return fresh
}

// answersTo are requests of every body: a response is validated as the answer to each.
var answersTo = []*pb.StewardRequest{
	{BatchId: testBatch.Bytes(), Body: &pb.StewardRequest_Lease{Lease: &pb.LeaseRequest{Max: 8}}},
	{BatchId: testBatch.Bytes(), Body: &pb.StewardRequest_Complete{Complete: &pb.Complete{}}},
	{BatchId: testBatch.Bytes(), Body: &pb.StewardRequest_Pull{Pull: &pb.StatePull{}}},
	{BatchId: testBatch.Bytes(), Body: &pb.StewardRequest_Status{Status: &pb.StatusRequest{}}},
	{Body: &pb.StewardRequest_List{List: &pb.ListBatches{}}},
	{BatchId: testBatch.Bytes(), Body: &pb.StewardRequest_Vote{Vote: &pb.PrimaryVote{Epoch: 3, DurationMs: 10000}}},
	{BatchId: testBatch.Bytes(), Body: &pb.StewardRequest_Digest{Digest: &pb.StateDigest{Tasks: []uint32{1}, Hashes: []uint64{7}}}},
}

func FuzzStewardRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.StewardRequest
		if !decodeFrame(data, &req) || ValidateStewardRequest(&req) != nil {
			return
		}
		if err := ValidateStewardRequest(again(t, &req, &pb.StewardRequest{})); err != nil {
			t.Fatalf("valid, then not after a round trip: %v", err)
		}
		if req.GetList() == nil {
			if _, err := cid.Cast(req.GetBatchId()); err != nil { // steward.go casts it
				t.Fatalf("a valid request's batch ID does not parse: %v", err)
			}
		}
		if c := req.GetComplete(); c != nil && len(c.GetOutputs()) != len(c.GetRecords()) {
			t.Fatal("a valid Complete with outputs not aligned with its records")
		}
	})
}

func FuzzStewardResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp pb.StewardResponse
		if !decodeFrame(data, &resp) {
			return
		}
		for _, req := range answersTo {
			if ValidateStewardResponse(&resp, req) != nil {
				continue
			}
			if err := ValidateStewardResponse(again(t, &resp, &pb.StewardResponse{}), req); err != nil {
				t.Fatalf("valid, then not after a round trip: %v", err)
			}
			if g := resp.GetGrant(); req.GetLease() != nil && resp.GetError() == nil && len(g.GetLeases()) > int(req.GetLease().GetMax()) {
				t.Fatal("a valid grant with more leases than asked")
			}
			if v := resp.GetVote(); req.GetVote() != nil && resp.GetError() == nil && v.GetEpoch() != req.GetVote().GetEpoch() {
				t.Fatal("a valid vote for another epoch than asked")
			}
			if len(resp.GetError().GetStewardAddrs()) > MaxHintAddrs {
				t.Fatal("a valid error with too many hint addresses")
			}
		}
		FromPB(resp.GetError()) // any code reads as an error or none
	})
}

func FuzzListBatches(f *testing.F) {
	list := &pb.StewardRequest{Body: &pb.StewardRequest_List{List: &pb.ListBatches{}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp pb.StewardResponse
		if !decodeFrame(data, &resp) || ValidateStewardResponse(&resp, list) != nil || resp.GetError() != nil {
			return
		}
		ms := resp.GetBatches().GetManifests()
		if len(ms) > MaxListedBatches {
			t.Fatalf("%d manifests passed", len(ms))
		}
		for _, m := range ms {
			if len(m) == 0 || len(m) > MaxManifestSize {
				t.Fatalf("a listed manifest of %d bytes passed", len(m))
			}
		}
	})
}

func FuzzResultRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.ResultRequest
		if !decodeFrame(data, &req) || ValidateResultRequest(&req) != nil {
			return
		}
		if err := ValidateResultRequest(again(t, &req, &pb.ResultRequest{})); err != nil {
			t.Fatalf("valid, then not after a round trip: %v", err)
		}
		for _, sr := range req.GetStore().GetResults() {
			if len(sr.GetRecords()) == 0 { // results.go reads Records[0]
				t.Fatal("a valid stored result without records")
			}
		}
	})
}

func FuzzResultResponse(f *testing.F) {
	reqs := []*pb.ResultRequest{
		{BatchId: testBatch.Bytes(), Body: &pb.ResultRequest_Fetch{Fetch: &pb.FetchResults{Tasks: []uint32{0, 1, 2, 3}, WithOutput: true}}},
		{BatchId: testBatch.Bytes(), Body: &pb.ResultRequest_Have{Have: &pb.HaveResults{Tasks: []uint32{0, 1, 2}}}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp pb.ResultResponse
		if !decodeFrame(data, &resp) {
			return
		}
		for _, req := range reqs {
			if ValidateResultResponse(&resp, req) != nil {
				continue
			}
			if err := ValidateResultResponse(again(t, &resp, &pb.ResultResponse{}), req); err != nil {
				t.Fatalf("valid, then not after a round trip: %v", err)
			}
		}
	})
}

func FuzzBlobRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.BlobRequest
		if decodeFrame(data, &req) && ValidateBlobRequest(&req) == nil {
			c, err := cid.Cast(req.GetCid()) // node/stream.go casts it (the blob handler)
			if err != nil || CheckContentID(c) != nil {
				t.Fatalf("a valid blob request for %x: %v", req.GetCid(), err)
			}
		}
		var resp pb.BlobResponse
		if decodeFrame(data, &resp) && ValidateBlobResponse(&resp, 0) == nil && resp.GetError().GetCode() == pb.ErrorCode_OK && resp.GetSize() > MaxBlobSize {
			t.Fatalf("a blob of %d bytes passed", resp.GetSize())
		}
	})
}

func FuzzAnnouncement(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ValidateAnnouncement(data) // pubsub data: no length prefix
		if err != nil {
			return
		}
		if len(a.GetManifest()) == 0 || len(a.GetManifest()) > MaxManifestSize {
			t.Fatalf("an announcement with a manifest of %d bytes passed", len(a.GetManifest()))
		}
	})
}

// seedMessages are well-formed messages of each fuzz target (and a few that fail one
// check), the seed corpus in testdata/fuzz.
func seedMessages(t testing.TB) map[string][]proto.Message {
	ok, failed := okRecord(t, 1), failedRecord(t, 2)
	manifest := []byte("a signed manifest")
	state := &pb.TaskState{Task: 1, Results: []*pb.ResultRecord{ok}, Leases: []*pb.LeaseState{{Worker: []byte(testPeer(t, 2)), GrantId: 7, ExpiresMs: 9}},
		Holders: [][]byte{[]byte(testPeer(t, 4))}, Notes: []*pb.FailureNote{{Executor: []byte(testPeer(t, 3)), Detail: "trap"}},
		DecidedEpoch: 2, DecidedOutput: testOutput.Bytes()}
	addr := []byte{0x04, 127, 0, 0, 1, 0x06, 0x10, 0x00} // /ip4/127.0.0.1/tcp/4096
	stored := &pb.StoredResult{Task: 1, Output: []byte("42\n"), Records: []*pb.ResultRecord{ok}}
	single := &pb.StoredResult{Task: 1, Output: []byte("42\n"), Records: []*pb.ResultRecord{ok}, Single: true, Steward: []byte(testPeer(t, 5)), StewardSignature: testSig}
	return map[string][]proto.Message{
		"FuzzStewardRequest": {
			stewardRequest(&pb.LeaseRequest{Max: 4, Holding: []uint32{5, 7}, HoldingSet: true, MemoryMb: 512}),
			stewardRequest(&pb.LeaseRenew{Tasks: []uint32{1}}),
			stewardRequest(&pb.LeaseReturn{Tasks: []uint32{1}}),
			stewardRequest(&pb.Complete{Records: []*pb.ResultRecord{ok, failed}, Outputs: [][]byte{[]byte("42\n"), nil}, Notes: []*pb.FailureNote{{}, {Detail: "trap", Stderr: []byte("oops")}}}),
			stewardRequest(&pb.Complete{Records: []*pb.ResultRecord{ok}}), // outputs missing
			stewardRequest(&pb.StateDelta{Manifest: manifest, Tasks: []*pb.TaskState{state}, Signature: testSig}),
			stewardRequest(&pb.StatePull{}),
			stewardRequest(&pb.StatusRequest{}),
			stewardRequest(&pb.Adopt{Manifest: manifest}),
			stewardRequest(&pb.ListBatches{}),
			stewardRequest(&pb.PrimaryVote{Epoch: 2, DurationMs: 10000, Stewards: [][]byte{[]byte(testPeer(t, 1)), []byte(testPeer(t, 2))}}),
			stewardRequest(&pb.StateDelta{Tasks: []*pb.TaskState{state}, Signature: testSig, Epoch: 2}),
			stewardRequest(&pb.StateDigest{Tasks: []uint32{0, 1, 5}, Hashes: []uint64{1, 2, 3}, Epoch: 2}),
		},
		"FuzzStewardResponse": {
			grantOf(0, 1),
			&pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: &pb.LeaseGrant{RetryAfterMs: 250, Waiting: "waiting: too few peers", Refused: "no"}}},
			&pb.StewardResponse{Body: &pb.StewardResponse_Ack{Ack: &pb.Ack{}}},
			notSteward(testPeer(t, 6)),
			&pb.StewardResponse{Body: &pb.StewardResponse_Vote{Vote: &pb.VoteGrant{Epoch: 3, DurationMs: 10000}}},
			&pb.StewardResponse{Body: &pb.StewardResponse_Digest{Digest: &pb.DigestMatch{}}},
			&pb.StewardResponse{Body: &pb.StewardResponse_Digest{Digest: &pb.DigestMatch{Want: []uint32{1}, Differing: &pb.StateSnapshot{Tasks: []*pb.TaskState{state}, Signature: testSig}}}},
			&pb.StewardResponse{Error: &pb.Error{Code: pb.ErrorCode_FENCED, Message: "epoch 2 is stale", StewardHint: []byte(testPeer(t, 6)), StewardAddrs: [][]byte{addr}, Epoch: 4}},
			&pb.StewardResponse{Body: &pb.StewardResponse_Snapshot{Snapshot: &pb.StateSnapshot{Manifest: manifest, Tasks: []*pb.TaskState{state}, Signature: testSig}}},
			&pb.StewardResponse{Body: &pb.StewardResponse_Status{Status: &pb.BatchStatus{State: "failed", Total: 4, Failed: 1, Steward: []byte(testPeer(t, 4)),
				Peers:    []*pb.PeerShare{{Peer: []byte(testPeer(t, 2)), Done: 3}},
				Failures: []*pb.TaskFailure{{Task: 2, Error: "trap", Executions: 2, Agreeing: 2}}, Waiting: []*pb.WaitReason{{Code: "memory", Reason: "r", Fix: "f"}}}}},
		},
		"FuzzListBatches": {
			&pb.StewardResponse{Body: &pb.StewardResponse_Batches{Batches: &pb.BatchList{Manifests: [][]byte{manifest, manifest}}}},
			&pb.StewardResponse{Body: &pb.StewardResponse_Batches{Batches: &pb.BatchList{}}},
		},
		"FuzzResultRequest": {
			resultReq(&pb.StoreResults{Manifest: manifest, Results: []*pb.StoredResult{stored, single}}),
			resultReq(&pb.StoreResults{Results: []*pb.StoredResult{stored}, Epoch: 3}),
			resultReq(&pb.FetchResults{Tasks: []uint32{1, 2}, WithOutput: true}),
			resultReq(&pb.HaveResults{Tasks: []uint32{1}}),
		},
		"FuzzResultResponse": {
			&pb.ResultResponse{Results: []*pb.StoredResult{stored, single}},
			&pb.ResultResponse{Have: []uint32{1, 2}},
			&pb.ResultResponse{Error: &pb.Error{Code: pb.ErrorCode_RATE_LIMITED, Message: "slow down"}},
		},
		"FuzzBlobRequest": {
			&pb.BlobRequest{Cid: testOutput.Bytes()},
			&pb.BlobResponse{Error: &pb.Error{}, Size: 8},
			&pb.BlobResponse{Error: &pb.Error{Code: pb.ErrorCode_NOT_FOUND}},
		},
	}
}

// TestWriteSeedCorpus writes testdata/fuzz from seedMessages when ALLFORONE_WRITE_CORPUS
// is set; otherwise it checks that every target has its seeds.
func TestWriteSeedCorpus(t *testing.T) {
	write := os.Getenv("ALLFORONE_WRITE_CORPUS") != ""
	seeds := seedMessages(t)
	files := make(map[string][][]byte)
	for target, msgs := range seeds {
		for _, m := range msgs {
			var buf bytes.Buffer
			if err := WriteMsg(&buf, m); err != nil {
				t.Fatal(err)
			}
			files[target] = append(files[target], buf.Bytes())
		}
	}
	// Announcements are pubsub data: no length prefix.
	for _, m := range [][]byte{[]byte("a signed manifest"), nil} {
		data, _ := proto.Marshal(&pb.Announcement{Manifest: m})
		files["FuzzAnnouncement"] = append(files["FuzzAnnouncement"], data)
	}
	// Most seeds pass their validation, so the fuzzer starts from messages that reach the
	// checks after it.
	valid := map[string]func([]byte) bool{
		"FuzzStewardRequest": func(d []byte) bool {
			var m pb.StewardRequest
			return decodeFrame(d, &m) && ValidateStewardRequest(&m) == nil
		},
		"FuzzResultRequest": func(d []byte) bool {
			var m pb.ResultRequest
			return decodeFrame(d, &m) && ValidateResultRequest(&m) == nil
		},
		"FuzzBlobRequest": func(d []byte) bool {
			var m pb.BlobRequest
			var r pb.BlobResponse
			return decodeFrame(d, &m) && ValidateBlobRequest(&m) == nil || decodeFrame(d, &r) && r.GetError() != nil && ValidateBlobResponse(&r, 0) == nil
		},
		"FuzzAnnouncement": func(d []byte) bool { _, err := ValidateAnnouncement(d); return err == nil },
	}
	for target, ok := range valid {
		n := 0
		for _, d := range files[target] {
			if ok(d) {
				n++
			}
		}
		if n < len(files[target])-1 {
			t.Errorf("%s: only %d of %d seeds are valid", target, n, len(files[target]))
		}
	}
	for target, datas := range files {
		dir := filepath.Join("testdata", "fuzz", target)
		for i, data := range datas {
			path := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
			if !write {
				if _, err := os.Stat(path); err != nil {
					t.Errorf("seed corpus: %v (ALLFORONE_WRITE_CORPUS=1 go test -run TestWriteSeedCorpus ./protocol writes it)", err)
				}
				continue
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
