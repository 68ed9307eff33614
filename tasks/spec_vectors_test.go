package tasks

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// The test vectors of the wire specification (protocol/README.md, section 19), computed by
// this repository's code. protocol/testdata/vectors.txt keeps them; the README quotes them
// and protocol/spec_test.go checks every value it quotes against that file. This test
// checks the file against the code: ALLFORONE_UPDATE_VECTORS=1 rewrites it.

const vectorsFile = "../protocol/testdata/vectors.txt"

// vectorKey is the Ed25519 key made from a 32-byte seed of b (RFC 8032).
func vectorKey(t *testing.T, b byte) (crypto.PrivKey, peer.ID) {
	t.Helper()
	sk, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, id
}

func frame(t *testing.T, m proto.Message) string {
	t.Helper()
	var buf bytes.Buffer
	if err := protocol.WriteMsg(&buf, m); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes())
}

// specVectors computes every vector, in the order of the file.
func specVectors(t *testing.T) [][2]string {
	var out [][2]string
	add := func(name, value string) { out = append(out, [2]string{name, value}) }
	hx := hex.EncodeToString

	subKey, sub := vectorKey(t, 0x01)
	workKey, work := vectorKey(t, 0x02)
	add("submitter.peer_id", sub.String())
	add("submitter.peer_id.hex", hx([]byte(sub)))
	add("worker.peer_id", work.String())
	add("worker.peer_id.hex", hx([]byte(work)))

	// 19.1: the manifest and the IDs derived from it.
	module := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	created := time.UnixMilli(1767225600000)
	m := &Manifest{Version: ManifestVersion, Swarm: "main", Name: "demo",
		Module:     BlobRef{CID: ContentID(module), Size: uint64(len(module))},
		Inputs:     []Input{RangeInput(Range{Start: 0, End: 4, Prefix: []byte("i=")})},
		Limits:     Limits{MemoryPages: 16, Timeout: 60 * time.Second, MaxOutputBytes: 1 << 20},
		Redundancy: 2, Replication: 3, MaxReplicas: 4,
		CreatedAt: created, Deadline: created.Add(24 * time.Hour), Nonce: bytes.Repeat([]byte{0xab}, 8)}
	if err := m.Sign(subKey); err != nil {
		t.Fatal(err)
	}
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseManifest(raw, "main"); err != nil {
		t.Fatalf("the vector manifest does not parse: %v", err)
	}
	add("manifest.module_cid.hex", hx(m.Module.CID.Bytes()))
	add("manifest.signed", hx(raw))
	add("manifest.signature", hx(m.Signature))
	batch := ContentID(raw)
	add("batch.id", batch.String())
	add("batch.id.hex", hx(batch.Bytes()))
	task1 := TaskID(batch, 1)
	add("task1.id", task1.String())
	add("task1.id.hex", hx(task1.Bytes()))
	seed := TaskSeed(task1)
	add("task1.seed", hx(seed[:]))
	in, err := m.Input(1)
	if err != nil {
		t.Fatal(err)
	}
	add("task1.input", string(in.Data))
	// Keyspace positions (section 8): sha2-256 of the binary ID, as go-libp2p-kbucket's
	// ConvertKey and ConvertPeerID.
	key := sha256.Sum256(batch.Bytes())
	add("batch.key", hx(key[:]))
	xor := func(p peer.ID) string {
		pk := sha256.Sum256([]byte(p))
		for i := range pk {
			pk[i] ^= key[i]
		}
		return hx(pk[:])
	}
	add("worker.distance", xor(work))
	add("submitter.distance", xor(sub))
	ann, err := proto.Marshal(&pb.Announcement{Manifest: raw})
	if err != nil {
		t.Fatal(err)
	}
	add("announcement", hx(ann))

	// 19.2: a lease.
	add("lease.request", frame(t, &pb.StewardRequest{BatchId: batch.Bytes(), Body: &pb.StewardRequest_Lease{Lease: &pb.LeaseRequest{Max: 2}}}))
	add("lease.request.holding", frame(t, &pb.StewardRequest{BatchId: batch.Bytes(), Body: &pb.StewardRequest_Lease{Lease: &pb.LeaseRequest{Max: 2, Holding: []uint32{5, 7}, HoldingSet: true}}}))
	add("lease.not_steward", frame(t, &pb.StewardResponse{Error: &pb.Error{Code: pb.ErrorCode_NOT_STEWARD, Message: "ask x", StewardHint: []byte(sub)}}))
	expires := created.Add(130 * time.Second).UnixMilli()
	add("lease.grant", frame(t, &pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: &pb.LeaseGrant{Leases: []*pb.Lease{
		{Task: 0, ExpiresMs: expires, GrantId: 0x1122334455667788}, {Task: 1, ExpiresMs: expires, GrantId: 0x0102030405060708}}}}}))

	// 19.3: a blob.
	add("blob.request", frame(t, &pb.BlobRequest{Cid: m.Module.CID.Bytes()}))
	add("blob.response", frame(t, &pb.BlobResponse{Error: &pb.Error{}, Size: uint64(len(module))}))
	add("blob.bytes", hx(module))

	// 19.4: a completion.
	output := []byte("42\n")
	rec := ResultRecord{Batch: batch, Task: 1, Output: ContentID(output), OutputSize: uint64(len(output)),
		Finished: time.UnixMilli(1767225650000), Duration: 1500 * time.Millisecond}
	if err := rec.Sign(workKey); err != nil {
		t.Fatal(err)
	}
	if err := rec.Verify(); err != nil {
		t.Fatal(err)
	}
	signed, err := rec.signingBytes()
	if err != nil {
		t.Fatal(err)
	}
	add("record.output_cid.hex", hx(rec.Output.Bytes()))
	add("record.signed_bytes", hx(signed[len(protocol.ResultDomain):]))
	add("record.signature", hx(rec.Signature))
	add("complete.request", frame(t, &pb.StewardRequest{BatchId: batch.Bytes(), Body: &pb.StewardRequest_Complete{Complete: &pb.Complete{
		Records: []*pb.ResultRecord{rec.ToPB()}, Outputs: [][]byte{output}}}}))
	add("ack", frame(t, &pb.StewardResponse{Body: &pb.StewardResponse_Ack{Ack: &pb.Ack{}}}))

	// 19.5: ListBatches.
	add("list.request", frame(t, &pb.StewardRequest{Body: &pb.StewardRequest_List{List: &pb.ListBatches{}}}))

	// 19.6: a state copy between stewards, signed by the worker acting as a steward.
	d := &pb.StateDelta{Tasks: []*pb.TaskState{{Task: 1, Results: []*pb.ResultRecord{rec.ToPB()}, Holders: [][]byte{[]byte(work)}}}}
	sb, err := protocol.StateSignedBytes(batch, d)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := workKey.Sign(sb)
	if err != nil {
		t.Fatal(err)
	}
	d.Signature = sig
	add("state.signed_bytes", hx(sb[len(protocol.StateDomain):]))
	add("state.signature", hx(sig))
	add("state.delta", frame(t, &pb.StewardRequest{BatchId: batch.Bytes(), Body: &pb.StewardRequest_Delta{Delta: d}}))

	// 19.7: a primary's voucher for a task accepted on one trusted peer's output.
	vb := protocol.SingleSignedBytes(batch, 1, rec.Output)
	vsig, err := workKey.Sign(vb)
	if err != nil {
		t.Fatal(err)
	}
	add("single.signed_bytes", hx(vb[len(protocol.SingleDomain):]))
	add("single.signature", hx(vsig))
	return out
}

func TestSpecVectors(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Test vectors of protocol/README.md section 19, computed by tasks/spec_vectors_test.go.\n")
	b.WriteString("# name: value (hex, unless the name is a text form: a peer ID, a CID, an input)\n")
	for _, v := range specVectors(t) {
		fmt.Fprintf(&b, "%s: %s\n", v[0], v[1])
	}
	if os.Getenv("ALLFORONE_UPDATE_VECTORS") != "" {
		if err := os.WriteFile(vectorsFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(filepath.FromSlash(vectorsFile))
	if err != nil {
		t.Fatalf("%v (ALLFORONE_UPDATE_VECTORS=1 go test -run TestSpecVectors ./tasks writes it)", err)
	}
	want := strings.Split(b.String(), "\n")
	for i, line := range strings.Split(string(got), "\n") {
		if i >= len(want) || line != want[i] {
			w := ""
			if i < len(want) {
				w = want[i]
			}
			t.Fatalf("%s line %d is\n  %s\nbut the code makes\n  %s\n(if the change is meant, ALLFORONE_UPDATE_VECTORS=1 rewrites the file; then update the README)", vectorsFile, i+1, line, w)
		}
	}
}
