package testnet

import (
	"bufio"
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"allforone/node"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/wasmtest"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// spammer floods the swarm with announcements and the steward with lease requests.
type spammer struct {
	h     host.Host
	topic *pubsub.Topic
	sk    crypto.PrivKey
}

func newSpammer(t testing.TB, ctx context.Context, c *Cluster) *spammer {
	t.Helper()
	sk, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	h, err := libp2p.New(libp2p.Identity(sk), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ps, err := pubsub.NewGossipSub(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(protocol.BatchTopic("test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()})
	}
	return &spammer{h: h, topic: topic, sk: sk}
}

// announce publishes signed manifests of batches nobody will ever be able to run, and
// garbage, a thousand messages a second (a spammer's own CPU is not ours: in this one
// process it is, so it is bounded).
func (s *spammer) announce(ctx context.Context) {
	module := wasmtest.Echo()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		now := time.Now()
		m := &tasks.Manifest{Version: tasks.ManifestVersion, Swarm: "test", Name: "spam",
			Module:     tasks.BlobRef{CID: tasks.ContentID(append(module, byte(now.UnixNano()))), Size: uint64(len(module) + 1)},
			Inputs:     []tasks.Input{tasks.InlineInput([]byte("x"))},
			Limits:     tasks.Limits{MemoryPages: 16, Timeout: time.Second, MaxOutputBytes: 64},
			Redundancy: 1, Replication: 1, MaxReplicas: 1,
			CreatedAt: time.UnixMilli(now.UnixMilli()), Deadline: time.UnixMilli(now.Add(time.Hour).UnixMilli()),
			Nonce: make([]byte, 16)}
		rand.Read(m.Nonce)
		m.Sign(s.sk)
		raw, _ := m.Marshal()
		data, _ := proto.Marshal(&pb.Announcement{Manifest: raw})
		s.topic.Publish(ctx, data)
		s.topic.Publish(ctx, []byte("garbage"))
	}
}

// leases asks the steward for leases as fast as it can and never runs them.
func (s *spammer) leases(ctx context.Context, steward peer.ID, batch cid.Cid) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				st, err := s.h.NewStream(ctx, steward, protocol.StewardProtocol("test"))
				if err != nil {
					select {
					case <-time.After(10 * time.Millisecond):
					case <-ctx.Done():
					}
					continue
				}
				protocol.WriteMsg(st, &pb.StewardRequest{BatchId: batch.Bytes(), Body: &pb.StewardRequest_Lease{Lease: &pb.LeaseRequest{Max: 64}}})
				st.CloseWrite()
				protocol.ReadMsg(bufio.NewReader(st), protocol.MaxStewardMessage, &pb.StewardResponse{})
				st.Close()
			}
		}()
	}
	wg.Wait()
}

// A spammer floods announcements and lease requests: honest work goes on and the spammer
// ends up blocked.
func TestSpammerIsCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("two batches under a spammer")
	}
	spamRuns(t, 1)
}

// BenchmarkSpam measures honest throughput under a spammer against a clean run (goal: at
// least 80%): go test ./testnet -run '^$' -bench Spam -benchtime 1x
func BenchmarkSpam(b *testing.B) {
	for b.Loop() {
		clean, spammed := spamRuns(b, 3)
		b.ReportMetric(100*clean.Seconds()/spammed.Seconds(), "%-of-clean-throughput")
	}
}

func spamRuns(t testing.TB, rounds int) (clean, spammed time.Duration) {
	c := startCluster(t, ClusterConfig{N: 4, Options: func(int) []node.Option {
		// Tasks that take a fixed time: the runs compare scheduling, not CPU luck.
		return []node.Option{node.WithTestHooks(node.TestHooks{TaskDelay: 50 * time.Millisecond})}
	}})
	ctx := deadline(t, 3*time.Minute)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	sub := c.Node(0)
	run := func(spam func(steward peer.ID, id cid.Cid)) time.Duration {
		start := time.Now()
		res, err := sub.Submit(ctx, echoBatch(300, 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := cid.Decode(res.BatchID)
		if spam != nil {
			st, _ := sub.Status(ctx, id)
			steward, _ := peer.Decode(st.Steward)
			spam(steward, id)
		}
		waitDone(ctx, t, sub, id)
		return time.Since(start)
	}
	// The machine is shared: compare the best of several runs each, interleaved.
	var s *spammer
	var steward peer.ID
	for round := range rounds {
		c1 := run(nil)
		s = newSpammer(t, ctx, c) // a fresh identity each time: the last one is blocked
		sctx, stop := context.WithCancel(ctx)
		s1 := run(func(st peer.ID, id cid.Cid) {
			steward = st
			go s.announce(sctx)
			go s.leases(sctx, st, id)
		})
		stop()
		if round == 0 || c1 < clean {
			clean = c1
		}
		if round == 0 || s1 < spammed {
			spammed = s1
		}
	}
	t.Logf("clean %v, under spam %v (%.0f%%)", clean, spammed, 100*clean.Seconds()/spammed.Seconds())
	// Throughput under spam is a benchmark's business (BenchmarkSpam: goal 80%); on a shared
	// machine a timed comparison is no test verdict. The test asserts what does not depend on
	// timing: the batch completed under spam and the spammer ends up blocked.
	var sn *node.Node
	for _, n := range c.Nodes() {
		if n.ID() == steward {
			sn = n
		}
	}
	blocked := false
	for _, b := range sn.Blocklist() {
		blocked = blocked || b.PeerID == s.h.ID().String()
	}
	if !blocked {
		t.Errorf("the steward did not block the spammer: %v", sn.Blocklist())
	}
	return clean, spammed
}
