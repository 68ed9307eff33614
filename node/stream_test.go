package node

import (
	"bufio"
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pspb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/wasmtest"
)

// A request that breaks the wire contract is answered BAD_REQUEST, saying which field is
// wrong, before any handler sees it: on the steward, result and blob protocols, from a bare
// libp2p host on loopback.
func TestInvalidRequestsGetBadRequest(t *testing.T) {
	n := newTestNode(t)
	h := fakePeer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: n.id, Addrs: n.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	batch := protocol.ContentID([]byte("no such manifest")).Bytes()
	rec := &pb.ResultRecord{BatchId: batch, Task: 1, Executor: []byte(h.ID()), OutputCid: protocol.ContentID([]byte("x")).Bytes(),
		OutputSize: 1, Signature: make([]byte, protocol.SignatureSize)}
	c := streamCaller{h}
	for _, tc := range []struct {
		name  string
		pid   libp2pproto.ID
		req   proto.Message
		field string
	}{
		{"steward request without a body", protocol.StewardProtocol("test"), &pb.StewardRequest{BatchId: batch}, "has no body"},
		{"complete without outputs", protocol.StewardProtocol("test"), &pb.StewardRequest{BatchId: batch,
			Body: &pb.StewardRequest_Complete{Complete: &pb.Complete{Records: []*pb.ResultRecord{rec}}}}, "complete.outputs"},
		{"garbage batch ID", protocol.StewardProtocol("test"), &pb.StewardRequest{BatchId: []byte("b"),
			Body: &pb.StewardRequest_Status{Status: &pb.StatusRequest{}}}, "batch_id"},
		{"stored result without records", protocol.ResultProtocol("test"), &pb.ResultRequest{BatchId: batch,
			Body: &pb.ResultRequest_Store{Store: &pb.StoreResults{Results: []*pb.StoredResult{{Task: 1}}}}}, "store.results[0].records"},
	} {
		var code pb.ErrorCode
		var msg string
		switch req := tc.req.(type) {
		case *pb.StewardRequest:
			var resp pb.StewardResponse
			if err := c.Call(ctx, n.id, tc.pid, protocol.MaxStewardMessage, req, &resp); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			code, msg = resp.GetError().GetCode(), resp.GetError().GetMessage()
		case *pb.ResultRequest:
			var resp pb.ResultResponse
			if err := c.Call(ctx, n.id, tc.pid, protocol.MaxResultMessage, req, &resp); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			code, msg = resp.GetError().GetCode(), resp.GetError().GetMessage()
		}
		if code != pb.ErrorCode_BAD_REQUEST || !strings.Contains(msg, tc.field) {
			t.Errorf("%s: answered %v %q, want BAD_REQUEST about %s", tc.name, code, msg, tc.field)
		}
	}

	// The blob protocol: a CID that is not a content ID.
	s, err := h.NewStream(ctx, n.id, protocol.BlobProtocol("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	protocol.WriteMsg(s, &pb.BlobRequest{Cid: cid.NewCidV0(protocol.ContentID([]byte("x")).Hash()).Bytes()})
	s.CloseWrite()
	var resp pb.BlobResponse
	if err := protocol.ReadMsg(bufio.NewReader(s), protocol.MaxBlobRequest, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.GetError().GetCode() != pb.ErrorCode_BAD_REQUEST || !strings.Contains(resp.GetError().GetMessage(), "cid") {
		t.Fatalf("blob request for a CIDv0: %v", resp.GetError())
	}
}

// recordingCaller passes calls to a node's stream caller and remembers their protocols.
type recordingCaller struct {
	n     *Node
	mu    sync.Mutex
	seen  map[libp2pproto.ID]int
	total int
}

func (r *recordingCaller) Call(ctx context.Context, p peer.ID, pid libp2pproto.ID, limit int, req, resp proto.Message) error {
	r.mu.Lock()
	r.seen[pid]++
	r.total++
	r.mu.Unlock()
	return streamCaller{r.n.host}.Call(ctx, p, pid, limit, req, resp)
}

func (r *recordingCaller) count(pid libp2pproto.ID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[pid]
}

// Everything a node asks of its peers on the steward and result protocols goes through its
// Caller (WithCaller): a batch stewarded and held by two nodes makes steward and result
// calls through the seam.
func TestPeerRequestsGoThroughTheCaller(t *testing.T) {
	rec := &recordingCaller{seen: make(map[libp2pproto.ID]int)}
	cfg := TestConfig(filepath.Join(t.TempDir(), "a"))
	if _, err := InitWithSwarmKey(cfg, nil); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, WithCaller(rec))
	if err != nil {
		t.Fatal(err)
	}
	rec.n = a
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := newTestNode(t)
	connectNodes(t, a, b)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	deadlineFor(t, ctx, "both nodes to see each other as members", func() bool {
		return len(a.liveView().Members()) == 2 && len(b.liveView().Members()) == 2
	})
	id := submitTasks(t, ctx, a, "echo", wasmtest.Echo(), 4, 2)
	deadlineFor(t, ctx, "the batch to complete with both nodes holding its results", func() bool {
		st, err := a.Status(ctx, id)
		return err == nil && st.State == "complete" && a.HeldResults(id) == 4 && b.HeldResults(id) == 4
	})
	// a handed the batch to b (Adopt) and, as a holder or as the primary, asked b about
	// results.
	deadlineFor(t, ctx, "a result call through the seam", func() bool {
		return rec.count(protocol.ResultProtocol("test")) > 0
	})
	if rec.count(protocol.StewardProtocol("test")) == 0 {
		t.Fatalf("no steward call went through the caller (%d calls in all)", rec.total)
	}
}

// signedManifest returns a valid manifest of swarm, signed by a new key, changed by mod
// before signing.
func signedManifest(t *testing.T, swarm string, mod func(m *tasks.Manifest)) []byte {
	t.Helper()
	sk, _, _ := crypto.GenerateEd25519Key(nil)
	module := wasmtest.Echo()
	now := time.Now()
	m := &tasks.Manifest{
		Version: tasks.ManifestVersion, Swarm: swarm, Name: "t",
		Module:     tasks.BlobRef{CID: tasks.ContentID(module), Size: uint64(len(module))},
		Inputs:     []tasks.Input{tasks.InlineInput([]byte("x"))},
		Limits:     tasks.Limits{MemoryPages: 16, Timeout: time.Second, MaxOutputBytes: 1024},
		Redundancy: 1, Replication: 1, MaxReplicas: 3,
		CreatedAt: time.UnixMilli(now.UnixMilli()), Deadline: time.UnixMilli(now.Add(time.Hour).UnixMilli()),
		Nonce: []byte("12345678"),
	}
	if mod != nil {
		mod(m)
	}
	if err := m.Sign(sk); err != nil {
		t.Fatal(err)
	}
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func announcement(raw []byte) []byte {
	b, _ := proto.Marshal(&pb.Announcement{Manifest: raw})
	return b
}

func TestAnnouncementValidator(t *testing.T) {
	n := newTestNode(t)
	valid := signedManifest(t, n.cfg.Swarm, nil)
	unsigned := func() []byte {
		m, _ := tasks.DecodeManifest(valid)
		m.Signature = nil
		b, _ := m.Marshal()
		return b
	}()
	tampered := bytes.Clone(valid)
	tampered[len(tampered)-1] ^= 1
	old := signedManifest(t, n.cfg.Swarm, func(m *tasks.Manifest) {
		m.CreatedAt = time.UnixMilli(time.Now().Add(-3 * time.Hour).UnixMilli())
		m.Deadline = time.UnixMilli(time.Now().Add(-time.Hour).UnixMilli())
	})
	future := signedManifest(t, n.cfg.Swarm, func(m *tasks.Manifest) {
		m.CreatedAt = time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
		m.Deadline = time.UnixMilli(time.Now().Add(2 * time.Hour).UnixMilli())
	})
	cases := []struct {
		name string
		data []byte
		want pubsub.ValidationResult
	}{
		{"valid", announcement(valid), pubsub.ValidationAccept},
		{"not protobuf", []byte("\xff\xff\xff garbage"), pubsub.ValidationReject},
		{"oversized", make([]byte, 200<<10), pubsub.ValidationReject},
		{"unsigned", announcement(unsigned), pubsub.ValidationReject},
		{"bad signature", announcement(tampered), pubsub.ValidationReject},
		{"other swarm", announcement(signedManifest(t, "elsewhere", nil)), pubsub.ValidationReject},
		{"replay of an expired batch", announcement(old), pubsub.ValidationIgnore},
		{"created in the future", announcement(future), pubsub.ValidationIgnore},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := &pubsub.Message{Message: &pspb.Message{Data: tc.data, From: []byte(tc.name)}, ReceivedFrom: "someone"}
			if got := n.validateAnnouncement(t.Context(), "someone", msg); got != tc.want {
				t.Fatalf("validator = %v, want %v", got, tc.want)
			}
		})
	}
	// The same batch announced again is a replay: ignored, not forwarded again.
	msg := &pubsub.Message{Message: &pspb.Message{Data: announcement(valid), From: []byte("a")}, ReceivedFrom: "someone"}
	if got := n.validateAnnouncement(t.Context(), "someone", msg); got != pubsub.ValidationIgnore {
		t.Fatalf("replayed batch: %v, want ignore", got)
	}
	// A batch this node knows through Adopt is still forwarded the first time.
	known := signedManifest(t, n.cfg.Swarm, nil)
	if _, _, err := n.addBatch(t.Context(), known); err != nil {
		t.Fatal(err)
	}
	msg = &pubsub.Message{Message: &pspb.Message{Data: announcement(known), From: []byte("b")}, ReceivedFrom: "someone"}
	if got := n.validateAnnouncement(t.Context(), "someone", msg); got != pubsub.ValidationAccept {
		t.Fatalf("first announcement of a batch known through Adopt: %v, want accept", got)
	}
	// One author flooding announcements is cut off after a burst.
	ignored := 0
	for range 50 {
		m := signedManifest(t, n.cfg.Swarm, nil)
		flood := &pubsub.Message{Message: &pspb.Message{Data: announcement(m), From: []byte("flooder")}, ReceivedFrom: "someone"}
		if n.validateAnnouncement(t.Context(), "someone", flood) == pubsub.ValidationIgnore {
			ignored++
		}
	}
	if ignored < 40 {
		t.Fatalf("a flood of 50 announcements from one author: only %d ignored", ignored)
	}
}
