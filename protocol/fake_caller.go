package protocol

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sync"

	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"
)

// FakeCaller is a Caller for tests of code that talks to peers, without a network. Each
// call goes to the handler registered for its peer and protocol, through the real framing
// in both directions (WriteMsg, then ReadMsg with the limit), so size limits and encoding
// hold as on a stream. A call to a peer with no handler fails as a dial would. It records
// every call. Safe for concurrent use.
type FakeCaller struct {
	mu       sync.Mutex
	handlers map[fakeRoute]fakeHandler
	down     map[peer.ID]error
	calls    []FakeCall
}

// FakeCall is one call a FakeCaller saw.
type FakeCall struct {
	Peer     peer.ID
	Protocol protocol.ID
	Request  proto.Message // as the handler decoded it
}

type fakeRoute struct {
	p   peer.ID
	pid protocol.ID
}

type fakeHandler struct {
	newReq func() proto.Message
	handle func(ctx context.Context, req proto.Message) proto.Message
}

// HandleSteward makes p answer steward requests of swarm with h.
func (f *FakeCaller) HandleSteward(p peer.ID, swarm string, h func(ctx context.Context, req *pb.StewardRequest) *pb.StewardResponse) {
	f.handle(p, StewardProtocol(swarm), func() proto.Message { return &pb.StewardRequest{} },
		func(ctx context.Context, req proto.Message) proto.Message { return h(ctx, req.(*pb.StewardRequest)) })
}

// HandleResult makes p answer result requests of swarm with h.
func (f *FakeCaller) HandleResult(p peer.ID, swarm string, h func(ctx context.Context, req *pb.ResultRequest) *pb.ResultResponse) {
	f.handle(p, ResultProtocol(swarm), func() proto.Message { return &pb.ResultRequest{} },
		func(ctx context.Context, req proto.Message) proto.Message { return h(ctx, req.(*pb.ResultRequest)) })
}

func (f *FakeCaller) handle(p peer.ID, pid protocol.ID, newReq func() proto.Message, h func(context.Context, proto.Message) proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.handlers == nil {
		f.handlers = make(map[fakeRoute]fakeHandler)
	}
	f.handlers[fakeRoute{p, pid}] = fakeHandler{newReq, h}
}

// Down makes every call to p fail with err (nil: p is reachable again).
func (f *FakeCaller) Down(p peer.ID, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down == nil {
		f.down = make(map[peer.ID]error)
	}
	if err == nil {
		delete(f.down, p)
		return
	}
	f.down[p] = err
}

// Calls returns the calls made so far, in order.
func (f *FakeCaller) Calls() []FakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeCall(nil), f.calls...)
}

// Call sends req to p's handler for pid, through the framing, and reads its answer.
func (f *FakeCaller) Call(ctx context.Context, p peer.ID, pid protocol.ID, limit int, req, resp proto.Message) error {
	f.mu.Lock()
	h, ok := f.handlers[fakeRoute{p, pid}]
	down := f.down[p]
	f.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case down != nil:
		return fmt.Errorf("open %s stream to %s: %w", pid, p, down)
	case !ok:
		return fmt.Errorf("open %s stream to %s: no route to the peer (fake)", pid, p)
	}
	in := h.newReq()
	if err := roundTrip(req, in, limit); err != nil {
		return fmt.Errorf("send to %s: %w", p, err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, FakeCall{Peer: p, Protocol: pid, Request: in})
	f.mu.Unlock()
	if err := roundTrip(h.handle(ctx, in), resp, limit); err != nil {
		return fmt.Errorf("read answer from %s: %w", p, err)
	}
	return nil
}

// roundTrip frames m and reads it back into into, as the other end of a stream would.
func roundTrip(m, into proto.Message, limit int) error {
	var buf bytes.Buffer
	if err := WriteMsg(&buf, m); err != nil {
		return err
	}
	return ReadMsg(bufio.NewReader(&buf), limit, into)
}
