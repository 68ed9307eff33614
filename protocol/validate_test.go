package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// Fixtures: well-formed values. Signatures are only checked for their presence and size
// here, so any 64 bytes do.

var (
	testBatch  = ContentID([]byte("a signed manifest"))
	testOutput = ContentID([]byte("42\n"))
	testSig    = bytes.Repeat([]byte{7}, SignatureSize)
)

func testPeer(t testing.TB, seed byte) peer.ID {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func okRecord(t testing.TB, task uint32) *pb.ResultRecord {
	return &pb.ResultRecord{BatchId: testBatch.Bytes(), Task: task, Executor: []byte(testPeer(t, 2)),
		OutputCid: testOutput.Bytes(), OutputSize: 3, FinishedMs: 1, DurationMs: 1, Signature: testSig}
}

func failedRecord(t testing.TB, task uint32) *pb.ResultRecord {
	return &pb.ResultRecord{BatchId: testBatch.Bytes(), Task: task, Executor: []byte(testPeer(t, 3)),
		Error: "trap", FinishedMs: 1, Signature: testSig}
}

// wantInvalid fails unless err is an InvalidError naming field (a substring of it) and
// answered as BAD_REQUEST.
func wantInvalid(t *testing.T, name string, err error, field string) {
	t.Helper()
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Errorf("%s: err = %v, want an InvalidError about %s", name, err, field)
		return
	}
	if !strings.Contains(ie.Field, field) {
		t.Errorf("%s: error names field %q (%v), want %q", name, ie.Field, err, field)
	}
	if !errors.Is(err, ErrBadRequest) || !errors.Is(err, ErrInvalid) || ToPB(err).GetCode() != pb.ErrorCode_BAD_REQUEST {
		t.Errorf("%s: %v does not map to BAD_REQUEST", name, err)
	}
	if ie.Problem == "" {
		t.Errorf("%s: the error does not say what is wrong", name)
	}
}

func stewardRequest(body any) *pb.StewardRequest {
	r := &pb.StewardRequest{BatchId: testBatch.Bytes()}
	switch b := body.(type) {
	case *pb.LeaseRequest:
		r.Body = &pb.StewardRequest_Lease{Lease: b}
	case *pb.LeaseRenew:
		r.Body = &pb.StewardRequest_Renew{Renew: b}
	case *pb.LeaseReturn:
		r.Body = &pb.StewardRequest_Return{Return: b}
	case *pb.Complete:
		r.Body = &pb.StewardRequest_Complete{Complete: b}
	case *pb.StateDelta:
		r.Body = &pb.StewardRequest_Delta{Delta: b}
	case *pb.StatePull:
		r.Body = &pb.StewardRequest_Pull{Pull: b}
	case *pb.StatusRequest:
		r.Body = &pb.StewardRequest_Status{Status: b}
	case *pb.Adopt:
		r.Body = &pb.StewardRequest_Adopt{Adopt: b}
	case *pb.ListBatches:
		r.BatchId, r.Body = nil, &pb.StewardRequest_List{List: b}
	case *pb.PrimaryVote:
		r.Body = &pb.StewardRequest_Vote{Vote: b}
	case *pb.StateDigest:
		r.Body = &pb.StewardRequest_Digest{Digest: b}
	}
	return r
}

func TestValidateStewardRequest(t *testing.T) {
	manifest := []byte("a signed manifest") // its content ID is testBatch
	okState := &pb.TaskState{Task: 1, Results: []*pb.ResultRecord{okRecord(t, 1)},
		Leases: []*pb.LeaseState{{Worker: []byte(testPeer(t, 2)), GrantId: 9}}, Holders: [][]byte{[]byte(testPeer(t, 4))}}
	valid := map[string]*pb.StewardRequest{
		"lease":    stewardRequest(&pb.LeaseRequest{Max: 4, Holding: []uint32{1}, HoldingSet: true}),
		"renew":    stewardRequest(&pb.LeaseRenew{Tasks: []uint32{1, 2}}),
		"return":   stewardRequest(&pb.LeaseReturn{Tasks: []uint32{1}}),
		"complete": stewardRequest(&pb.Complete{Records: []*pb.ResultRecord{okRecord(t, 1), failedRecord(t, 2)}, Outputs: [][]byte{[]byte("42\n"), nil}, Notes: []*pb.FailureNote{{}, {Detail: "trap"}}}),
		"delta":    stewardRequest(&pb.StateDelta{Manifest: manifest, Tasks: []*pb.TaskState{okState}, Signature: testSig}),
		"pull":     stewardRequest(&pb.StatePull{}),
		"status":   stewardRequest(&pb.StatusRequest{}),
		"adopt":    stewardRequest(&pb.Adopt{Manifest: manifest}),
		"list":     stewardRequest(&pb.ListBatches{}),
		"digest":   stewardRequest(&pb.StateDigest{Tasks: []uint32{0, 2, 9}, Hashes: []uint64{5, 6, 7}}),
	}
	for name, req := range valid {
		if err := ValidateStewardRequest(req); err != nil {
			t.Errorf("valid %s: %v", name, err)
		}
	}

	mutate := func(name string, f func(*pb.StewardRequest)) *pb.StewardRequest {
		r := proto.CloneOf(valid[name])
		f(r)
		return r
	}
	otherCID := cid.NewCidV0(testOutput.Hash()) // a CID, but not a content ID
	cases := []struct {
		name  string
		req   *pb.StewardRequest
		field string
	}{
		{"no batch ID", mutate("lease", func(r *pb.StewardRequest) { r.BatchId = nil }), "batch_id"},
		{"batch ID garbage", mutate("lease", func(r *pb.StewardRequest) { r.BatchId = []byte{1, 2, 3} }), "batch_id"},
		{"batch ID CIDv0", mutate("status", func(r *pb.StewardRequest) { r.BatchId = otherCID.Bytes() }), "batch_id"},
		{"no body", &pb.StewardRequest{BatchId: testBatch.Bytes()}, ""},
		{"holding too long", mutate("lease", func(r *pb.StewardRequest) { r.GetLease().Holding = make([]uint32, MaxTasks+1) }), "lease.holding"},
		{"renew too long", mutate("renew", func(r *pb.StewardRequest) { r.GetRenew().Tasks = make([]uint32, MaxTasks+1) }), "renew.tasks"},
		{"outputs not aligned", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Outputs = r.GetComplete().Outputs[:1] }), "complete.outputs"},
		{"more notes than records", mutate("complete", func(r *pb.StewardRequest) {
			r.GetComplete().Notes = append(r.GetComplete().Notes, &pb.FailureNote{})
		}), "complete.notes"},
		{"too many records", mutate("complete", func(r *pb.StewardRequest) {
			c := r.GetComplete()
			for len(c.Records) <= MaxResultsPerMessage {
				c.Records, c.Outputs = append(c.Records, okRecord(t, 1)), append(c.Outputs, []byte("42\n"))
			}
		}), "complete.records"},
		{"record of another batch", mutate("complete", func(r *pb.StewardRequest) {
			r.GetComplete().Records[0].BatchId = testOutput.Bytes()
		}), "complete.records[0].batch_id"},
		{"record without executor", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Records[1].Executor = nil }), "complete.records[1].executor"},
		{"record executor garbage", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Records[0].Executor = []byte("x") }), "complete.records[0].executor"},
		{"success without output", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Records[0].OutputCid = nil }), "complete.records[0].output_cid"},
		{"failure with output", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Records[1].OutputCid = testOutput.Bytes() }), "complete.records[1].output_cid"},
		{"output not a content ID", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Records[0].OutputCid = otherCID.Bytes() }), "complete.records[0].output_cid"},
		{"long error kind", mutate("complete", func(r *pb.StewardRequest) {
			r.GetComplete().Records[1].Error = strings.Repeat("x", MaxErrorKind+1)
		}), "complete.records[1].error"},
		{"unsigned record", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Records[0].Signature = nil }), "complete.records[0].signature"},
		{"short signature", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Records[0].Signature = testSig[:10] }), "complete.records[0].signature"},
		{"output for a failure", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Outputs[1] = []byte("x") }), "complete.outputs[1]"},
		{"output size differs", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Outputs[0] = []byte("4\n") }), "complete.outputs[0]"},
		{"task out of range", mutate("complete", func(r *pb.StewardRequest) { r.GetComplete().Records[0].Task = MaxTasks }), "complete.records[0].task"},
		{"unsigned delta", mutate("delta", func(r *pb.StewardRequest) { r.GetDelta().Signature = nil }), "delta.signature"},
		{"delta of another manifest", mutate("delta", func(r *pb.StewardRequest) { r.GetDelta().Manifest = []byte("other") }), "delta.manifest"},
		{"delta manifest too large", mutate("delta", func(r *pb.StewardRequest) { r.GetDelta().Manifest = make([]byte, MaxManifestSize+1) }), "delta.manifest"},
		{"state record of another task", mutate("delta", func(r *pb.StewardRequest) { r.GetDelta().Tasks[0].Results[0].Task = 2 }), "delta.tasks[0].results[0].task"},
		{"state lease worker garbage", mutate("delta", func(r *pb.StewardRequest) { r.GetDelta().Tasks[0].Leases[0].Worker = []byte("w") }), "delta.tasks[0].leases[0].worker"},
		{"state holder garbage", mutate("delta", func(r *pb.StewardRequest) { r.GetDelta().Tasks[0].Holders[0] = nil }), "delta.tasks[0].holders[0]"},
		{"state note without executor", mutate("delta", func(r *pb.StewardRequest) {
			r.GetDelta().Tasks[0].Notes = []*pb.FailureNote{{Detail: "x"}}
		}), "delta.tasks[0].notes[0].executor"},
		{"state with too many records", mutate("delta", func(r *pb.StewardRequest) {
			ts := r.GetDelta().Tasks[0]
			for len(ts.Results) <= MaxRecordsPerTask {
				ts.Results = append(ts.Results, okRecord(t, 1))
			}
		}), "delta.tasks[0].results"},
		{"digest hashes not aligned", mutate("digest", func(r *pb.StewardRequest) { r.GetDigest().Hashes = r.GetDigest().Hashes[:2] }), "digest.hashes"},
		{"digest tasks out of order", mutate("digest", func(r *pb.StewardRequest) { r.GetDigest().Tasks[2] = 1 }), "digest.tasks[2]"},
		{"digest task twice", mutate("digest", func(r *pb.StewardRequest) { r.GetDigest().Tasks[1] = 0 }), "digest.tasks[1]"},
		{"digest task out of range", mutate("digest", func(r *pb.StewardRequest) { r.GetDigest().Tasks[2] = MaxTasks }), "digest.tasks[2]"},
		{"adopt without manifest", mutate("adopt", func(r *pb.StewardRequest) { r.GetAdopt().Manifest = nil }), "adopt.manifest"},
		{"adopt of another batch", mutate("adopt", func(r *pb.StewardRequest) { r.GetAdopt().Manifest = []byte("other") }), "adopt.manifest"},
	}
	for _, c := range cases {
		wantInvalid(t, c.name, ValidateStewardRequest(c.req), c.field)
	}
}

func TestValidateStewardResponse(t *testing.T) {
	lease := stewardRequest(&pb.LeaseRequest{Max: 2})
	grant := func(tasks ...uint32) *pb.StewardResponse {
		g := &pb.LeaseGrant{}
		for _, task := range tasks {
			g.Leases = append(g.Leases, &pb.Lease{Task: task, ExpiresMs: 5, GrantId: uint64(task) + 1})
		}
		return &pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: g}}
	}
	ack := &pb.StewardResponse{Body: &pb.StewardResponse_Ack{Ack: &pb.Ack{}}}
	snap := func(manifest []byte, sig []byte) *pb.StewardResponse {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Snapshot{Snapshot: &pb.StateSnapshot{Manifest: manifest,
			Tasks: []*pb.TaskState{{Task: 1, Results: []*pb.ResultRecord{okRecord(t, 1)}}}, Signature: sig}}}
	}
	status := func(peerBytes []byte) *pb.StewardResponse {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Status{Status: &pb.BatchStatus{State: "running",
			Steward: []byte(testPeer(t, 4)), Peers: []*pb.PeerShare{{Peer: peerBytes, Done: 1}}}}}
	}
	list := func(manifests ...[]byte) *pb.StewardResponse {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Batches{Batches: &pb.BatchList{Manifests: manifests}}}
	}
	manifest := []byte("a signed manifest")
	notSteward := &pb.StewardResponse{Error: &pb.Error{Code: pb.ErrorCode_NOT_STEWARD, StewardHint: []byte("junk")}}
	valid := []struct {
		name      string
		resp      *pb.StewardResponse
		req       *pb.StewardRequest
		wantField string // "" for valid
	}{
		{"grant", grant(0, 1), lease, "-"},
		{"empty grant", grant(), lease, "-"},
		{"error without body", notSteward, lease, "-"},
		{"ack", ack, stewardRequest(&pb.Complete{}), "-"},
		{"snapshot", snap(manifest, testSig), stewardRequest(&pb.StatePull{}), "-"},
		{"status", status([]byte(testPeer(t, 5))), stewardRequest(&pb.StatusRequest{}), "-"},
		{"list", list(manifest, manifest), stewardRequest(&pb.ListBatches{}), "-"},
		{"more leases than asked", grant(0, 1, 2), lease, "grant.leases"},
		{"a task twice", grant(3, 3), lease, "grant.leases[1].task"},
		{"ack for a lease", ack, lease, ""},
		{"grant for a complete", grant(), stewardRequest(&pb.Complete{}), ""},
		{"no body at all", &pb.StewardResponse{}, stewardRequest(&pb.StatusRequest{}), ""},
		{"unsigned snapshot", snap(manifest, nil), stewardRequest(&pb.StatePull{}), "snapshot.signature"},
		{"snapshot of another batch", snap([]byte("other"), testSig), stewardRequest(&pb.StatePull{}), "snapshot.manifest"},
		{"status with a bad peer", status([]byte("p")), stewardRequest(&pb.StatusRequest{}), "status.peers[0].peer"},
		{"too many manifests", list(bytes.Split(bytes.Repeat([]byte("m,"), MaxListedBatches+1), []byte(","))[:MaxListedBatches+1]...), stewardRequest(&pb.ListBatches{}), "batches.manifests"},
		{"empty manifest listed", list(manifest, nil), stewardRequest(&pb.ListBatches{}), "batches.manifests[1]"},
	}
	for _, c := range valid {
		err := ValidateStewardResponse(c.resp, c.req)
		if c.wantField == "-" {
			if err != nil {
				t.Errorf("valid %s: %v", c.name, err)
			}
			continue
		}
		wantInvalid(t, c.name, err, c.wantField)
	}
}

func resultReq(body any) *pb.ResultRequest {
	r := &pb.ResultRequest{BatchId: testBatch.Bytes()}
	switch b := body.(type) {
	case *pb.StoreResults:
		r.Body = &pb.ResultRequest_Store{Store: b}
	case *pb.FetchResults:
		r.Body = &pb.ResultRequest_Fetch{Fetch: b}
	case *pb.HaveResults:
		r.Body = &pb.ResultRequest_Have{Have: b}
	}
	return r
}

func TestValidateResultMessages(t *testing.T) {
	stored := func(task uint32) *pb.StoredResult {
		return &pb.StoredResult{Task: task, Output: []byte("42\n"), Records: []*pb.ResultRecord{okRecord(t, task)}}
	}
	single := stored(1)
	single.Single, single.Steward, single.StewardSignature = true, []byte(testPeer(t, 6)), testSig
	store := resultReq(&pb.StoreResults{Manifest: []byte("a signed manifest"), Results: []*pb.StoredResult{stored(1), single}})
	for name, req := range map[string]*pb.ResultRequest{
		"store": store, "fetch": resultReq(&pb.FetchResults{Tasks: []uint32{1, 2}, WithOutput: true}), "have": resultReq(&pb.HaveResults{Tasks: []uint32{1}}),
	} {
		if err := ValidateResultRequest(req); err != nil {
			t.Errorf("valid %s: %v", name, err)
		}
	}
	mutate := func(f func(*pb.StoreResults)) *pb.ResultRequest {
		r := proto.CloneOf(store)
		f(r.GetStore())
		return r
	}
	for _, c := range []struct {
		name  string
		req   *pb.ResultRequest
		field string
	}{
		{"no batch", &pb.ResultRequest{Body: &pb.ResultRequest_Have{Have: &pb.HaveResults{}}}, "batch_id"},
		{"no body", &pb.ResultRequest{BatchId: testBatch.Bytes()}, ""},
		{"another batch's manifest", mutate(func(s *pb.StoreResults) { s.Manifest = []byte("x") }), "store.manifest"},
		{"no records", mutate(func(s *pb.StoreResults) { s.Results[0].Records = nil }), "store.results[0].records"},
		{"a failed record", mutate(func(s *pb.StoreResults) { s.Results[0].Records = append(s.Results[0].Records, failedRecord(t, 1)) }), "store.results[0].records[1]"},
		{"records disagree", mutate(func(s *pb.StoreResults) {
			r := okRecord(t, 1)
			r.OutputCid = ContentID([]byte("other")).Bytes()
			s.Results[0].Records = append(s.Results[0].Records, r)
		}), "store.results[0].records[1].output_cid"},
		{"record of another task", mutate(func(s *pb.StoreResults) { s.Results[0].Task = 7 }), "store.results[0].records[0].task"},
		{"single without voucher", mutate(func(s *pb.StoreResults) { s.Results[1].StewardSignature = nil }), "store.results[1].steward_signature"},
		{"single without steward", mutate(func(s *pb.StoreResults) { s.Results[1].Steward = []byte("s") }), "store.results[1].steward"},
		{"fetch too long", resultReq(&pb.FetchResults{Tasks: make([]uint32, MaxTasks+1)}), "fetch.tasks"},
	} {
		wantInvalid(t, c.name, ValidateResultRequest(c.req), c.field)
	}

	fetch := resultReq(&pb.FetchResults{Tasks: []uint32{1}})
	have := resultReq(&pb.HaveResults{Tasks: []uint32{1, 2}})
	for _, c := range []struct {
		name  string
		resp  *pb.ResultResponse
		req   *pb.ResultRequest
		field string
	}{
		{"fetched", &pb.ResultResponse{Results: []*pb.StoredResult{stored(1)}}, fetch, "-"},
		{"have", &pb.ResultResponse{Have: []uint32{2}}, have, "-"},
		{"stored", &pb.ResultResponse{Have: []uint32{1}}, store, "-"},
		{"an error", &pb.ResultResponse{Error: &pb.Error{Code: pb.ErrorCode_RATE_LIMITED}}, fetch, "-"},
		{"unasked result", &pb.ResultResponse{Results: []*pb.StoredResult{stored(2)}}, fetch, "results[0].task"},
		{"malformed result", &pb.ResultResponse{Results: []*pb.StoredResult{{Task: 1}}}, fetch, "results[0].records"},
		{"a task twice", &pb.ResultResponse{Results: []*pb.StoredResult{stored(1), stored(1)}}, fetch, "results[1].task"},
		{"unasked have", &pb.ResultResponse{Have: []uint32{3}}, have, "have[0]"},
		{"stored what was not sent", &pb.ResultResponse{Have: []uint32{9}}, store, "have[0]"},
	} {
		err := ValidateResultResponse(c.resp, c.req)
		if c.field == "-" {
			if err != nil {
				t.Errorf("valid %s: %v", c.name, err)
			}
			continue
		}
		wantInvalid(t, c.name, err, c.field)
	}
}

func TestValidateBlobAndAnnouncement(t *testing.T) {
	if err := ValidateBlobRequest(&pb.BlobRequest{Cid: testOutput.Bytes()}); err != nil {
		t.Errorf("valid blob request: %v", err)
	}
	wantInvalid(t, "empty cid", ValidateBlobRequest(&pb.BlobRequest{}), "cid")
	wantInvalid(t, "CIDv0", ValidateBlobRequest(&pb.BlobRequest{Cid: cid.NewCidV0(testOutput.Hash()).Bytes()}), "cid")
	if err := ValidateBlobResponse(&pb.BlobResponse{Error: &pb.Error{}, Size: 8}, 8); err != nil {
		t.Errorf("valid blob response: %v", err)
	}
	wantInvalid(t, "too large", ValidateBlobResponse(&pb.BlobResponse{Size: MaxBlobSize + 1}, 0), "size")
	wantInvalid(t, "other size", ValidateBlobResponse(&pb.BlobResponse{Size: 9}, 8), "size")
	if err := ValidateBlobResponse(&pb.BlobResponse{Error: &pb.Error{Code: pb.ErrorCode_NOT_FOUND}, Size: MaxBlobSize + 1}, 0); err != nil {
		t.Errorf("an error answer's size is not looked at: %v", err)
	}

	data, _ := proto.Marshal(&pb.Announcement{Manifest: []byte("m")})
	if a, err := ValidateAnnouncement(data); err != nil || string(a.GetManifest()) != "m" {
		t.Errorf("valid announcement: %v, %v", a, err)
	}
	big, _ := proto.Marshal(&pb.Announcement{Manifest: make([]byte, MaxManifestSize+1)})
	for name, c := range map[string]struct {
		data  []byte
		field string
	}{
		"too long":         {make([]byte, MaxAnnouncement+1), ""},
		"garbage":          {[]byte{0xff, 0xff}, ""},
		"no manifest":      {nil, "manifest"},
		"manifest too big": {big, "manifest"},
	} {
		_, err := ValidateAnnouncement(c.data)
		wantInvalid(t, name, err, c.field)
	}
}

func TestValidateResultRecord(t *testing.T) {
	if err := ValidateResultRecord(okRecord(t, 1)); err != nil {
		t.Errorf("valid record: %v", err)
	}
	r := failedRecord(t, 1)
	r.Executor = nil
	err := ValidateResultRecord(r)
	wantInvalid(t, "no executor", err, "executor")
	if !strings.HasPrefix(err.Error(), "invalid ResultRecord: executor: ") {
		t.Errorf("error text %q does not say which message and field", err)
	}
}
