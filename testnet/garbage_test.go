package testnet

import (
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"allforone/protocol"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
)

// A peer sends oversized, truncated and garbage frames on every protocol: the streams are
// reset, nothing crashes, memory stays bounded, and honest work goes on.
func TestGarbageFramesOnEveryProtocol(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 3})
	ctx := deadline(t, 2*time.Minute)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	target := c.Node(1)
	if err := h.Connect(ctx, peer.AddrInfo{ID: target.ID(), Addrs: target.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	huge := binary.AppendUvarint(nil, 1<<30) // claims a 1 GiB message
	garbage := make([]byte, 4096)
	rand.Read(garbage)
	frames := [][]byte{
		huge, // oversized: refused on the length alone
		append(binary.AppendUvarint(nil, 100), 1, 2, 3), // truncated
		garbage, // garbage
		append(binary.AppendUvarint(nil, 8), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // not protobuf
		{}, // nothing at all
	}
	protos := []libp2pproto.ID{protocol.StewardProtocol("test"), protocol.ResultProtocol("test"), protocol.BlobProtocol("test")}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sent := 0
	for round := 0; round < 60; round++ {
		for _, p := range protos {
			for _, f := range frames {
				s, err := h.NewStream(ctx, target.ID(), p)
				if err != nil {
					if h.Network().Connectedness(target.ID()) != 1 {
						break // the node cut us off: fine
					}
					t.Fatalf("open %s: %v", p, err)
				}
				s.SetDeadline(time.Now().Add(5 * time.Second))
				s.Write(f)
				s.CloseWrite()
				buf := make([]byte, 1)
				s.Read(buf) // an error response or a reset; never a hang past the deadline
				s.Close()
				sent++
			}
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d garbage streams; heap %d -> %d MiB", sent, before.HeapAlloc>>20, after.HeapAlloc>>20)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
		t.Errorf("heap grew by %d MiB after garbage frames", grew>>20)
	}
	// The node still works.
	if hc := target.Health(); !hc.OK {
		t.Fatalf("health after garbage: %+v", hc)
	}
	res, err := target.Submit(ctx, echoBatch(20, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	if st := waitDone(ctx, t, target, id); st.Done != 20 {
		t.Fatalf("batch after garbage: %+v", st)
	}
}
