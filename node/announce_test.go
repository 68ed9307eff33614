package node

import (
	"bytes"
	"testing"
	"time"

	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/wasmtest"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pspb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/proto"
)

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
