package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"allforone/node/internal/p2p"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
)

// Every direct protocol is one request and one response on a fresh stream: the client
// writes the request and closes its side; the server answers and closes. Timeouts bound
// both sides.

const (
	requestTimeout = 30 * time.Second // a whole exchange, unless the caller's ctx says otherwise
	readTimeout    = 30 * time.Second // a server reading a request
	handleTimeout  = 10 * time.Minute // a server handling one (Adopt fetches blobs first)
	writeTimeout   = 30 * time.Second // a server writing its answer
)

// streamCaller is the protocol.Caller of a node: one request and one answer on a fresh
// libp2p stream. Without a deadline in ctx the exchange gets requestTimeout.
type streamCaller struct{ h host.Host }

// Call sends req to p on pid and reads the answer into resp, refusing one over limit.
func (c streamCaller) Call(ctx context.Context, p peer.ID, pid libp2pproto.ID, limit int, req, resp proto.Message) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	s, err := c.h.NewStream(ctx, p, pid)
	if err != nil {
		return fmt.Errorf("open %s stream to %s: %w", pid, shortID(p), err)
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := protocol.WriteMsg(s, req); err != nil {
		s.Reset()
		return fmt.Errorf("send to %s: %w", shortID(p), err)
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return fmt.Errorf("send to %s: %w", shortID(p), err)
	}
	if err := protocol.ReadMsg(bufio.NewReader(s), limit, resp); err != nil {
		s.Reset()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("read answer from %s: %w", shortID(p), err)
	}
	return s.Close()
}

// request sends req to p on pid through the node's Caller and reads the response into
// resp (the untyped form of the steward and result clients, below).
func (n *Node) request(ctx context.Context, p peer.ID, pid libp2pproto.ID, max int, req, resp proto.Message) error {
	return n.caller.Call(ctx, p, pid, max, req, resp)
}

// handler answers one request from a peer. It returns the response to send.
type handler[Req, Resp proto.Message] func(ctx context.Context, from peer.ID, req Req) Resp

// service is one request/response protocol as serve runs it.
type service[Req, Resp proto.Message] struct {
	max      int                // the request size limit
	newReq   func() Req         // an empty request to decode into
	validate func(Req) error    // the protocol's shape checks (protocol.Validate*Request)
	reject   func(error) Resp   // the answer to a request that fails them
	handle   handler[Req, Resp] // the answer to one that passes
}

// serve registers a request/response handler for pid: it reads one request (at most
// svc.max bytes), checks it with svc.validate and answers with svc.handle, or with
// svc.reject's BAD_REQUEST when it is invalid. A request that does not decode resets the
// stream.
func serve[Req, Resp proto.Message](n *Node, pid libp2pproto.ID, svc service[Req, Resp]) {
	n.host.SetStreamHandler(pid, func(s network.Stream) {
		if !n.enter() {
			s.Reset()
			return
		}
		defer n.wg.Done()
		from := s.Conn().RemotePeer()
		s.SetReadDeadline(time.Now().Add(readTimeout))
		req := svc.newReq()
		if err := protocol.ReadMsg(bufio.NewReader(s), svc.max, req); err != nil {
			if !errors.Is(err, io.EOF) {
				n.logs.p2p.Debug("bad request", "proto", pid, "from", shortID(from), "err", err)
			}
			s.Reset()
			return
		}
		var resp Resp
		if err := svc.validate(req); err != nil {
			n.logs.p2p.Debug("invalid request", "proto", pid, "from", shortID(from), "err", err)
			if !n.allow(from, p2p.LimitRequest) { // an invalid request counts as a request
				err = protocol.Errorf(pb.ErrorCode_RATE_LIMITED, "slow down")
			}
			resp = svc.reject(err)
		} else {
			ctx, cancel := context.WithTimeout(n.ctx, handleTimeout)
			defer cancel()
			resp = svc.handle(ctx, from, req)
		}
		s.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := protocol.WriteMsg(s, resp); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
}

// serveProtocols registers the handlers of the direct-stream protocols. Every request is
// checked against the protocol's shape rules (protocol.Validate*) before its handler sees
// it.
func (n *Node) serveProtocols() {
	serve(n, protocol.StewardProtocol(n.cfg.Swarm), service[*pb.StewardRequest, *pb.StewardResponse]{
		max:      protocol.MaxStewardMessage,
		newReq:   func() *pb.StewardRequest { return &pb.StewardRequest{} },
		validate: protocol.ValidateStewardRequest,
		reject:   func(err error) *pb.StewardResponse { return &pb.StewardResponse{Error: protocol.ToPB(err)} },
		handle:   n.handleSteward,
	})
	serve(n, protocol.ResultProtocol(n.cfg.Swarm), service[*pb.ResultRequest, *pb.ResultResponse]{
		max:      protocol.MaxResultMessage,
		newReq:   func() *pb.ResultRequest { return &pb.ResultRequest{} },
		validate: protocol.ValidateResultRequest,
		reject:   func(err error) *pb.ResultResponse { return &pb.ResultResponse{Error: protocol.ToPB(err)} },
		handle:   n.handleResult,
	})
	n.serveBlobs()
}

// The node talks to peers through the typed clients of package protocol, which check every
// answer against the wire contract, over a protocol.Caller: libp2p streams (stream.go)
// unless WithCaller gives another. Requests to this node itself are handled in-process.

// WithCaller makes the node send its steward and result requests through c instead of
// libp2p streams: a test's seam for watching or changing what goes over the wire.
func WithCaller(c protocol.Caller) Option { return func(n *Node) { n.caller = c } }

// startClients sets up the typed clients once the host is up.
func (n *Node) startClients() {
	if n.caller == nil {
		n.caller = streamCaller{n.host}
	}
	n.stewardClient = &protocol.StewardClient{Caller: n.caller, Swarm: n.cfg.Swarm, Self: n.id,
		Local: func(ctx context.Context, req *pb.StewardRequest) *pb.StewardResponse {
			return n.handleSteward(ctx, n.id, req)
		}}
	n.resultClient = &protocol.ResultClient{Caller: n.caller, Swarm: n.cfg.Swarm, Self: n.id,
		Local: func(ctx context.Context, req *pb.ResultRequest) *pb.ResultResponse {
			return n.handleResult(ctx, n.id, req)
		}}
}

// route is where requests for b's primary steward go first: the closest live steward.
func (n *Node) route(b *batch) protocol.Route {
	return protocol.Route{Batch: b.id, Manifest: b.raw, First: n.stewardsOf(b)[0]}
}

// The blob protocol: a peer asks for a content ID and gets the bytes. Blobs are modules,
// task inputs and outputs; the receiver checks the hash, so any peer may serve any blob.

const (
	blobFetchTimeout   = 60 * time.Second
	providerSearchTime = 3 * time.Second // looking for other providers of a blob in the DHT
)

func (n *Node) serveBlobs() {
	n.host.SetStreamHandler(protocol.BlobProtocol(n.cfg.Swarm), func(s network.Stream) {
		if !n.enter() {
			s.Reset()
			return
		}
		defer n.wg.Done()
		s.SetDeadline(time.Now().Add(blobFetchTimeout))
		if !n.allow(s.Conn().RemotePeer(), p2p.LimitBlob) {
			protocol.WriteMsg(s, &pb.BlobResponse{Error: protocol.ToPB(protocol.Errorf(pb.ErrorCode_RATE_LIMITED, "slow down"))})
			s.Close()
			return
		}
		var req pb.BlobRequest
		if err := protocol.ReadMsg(bufio.NewReader(s), protocol.MaxBlobRequest, &req); err != nil {
			s.Reset()
			return
		}
		var data []byte
		var c cid.Cid
		err := protocol.ValidateBlobRequest(&req)
		if err == nil {
			c, _ = cid.Cast(req.GetCid()) // it parsed in the validation
			data, err = n.blobs.Get(n.ctx, c)
		}
		if errors.Is(err, tasks.ErrBlobNotFound) {
			err = protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no blob %s here", c)
		}
		resp := &pb.BlobResponse{Error: protocol.ToPB(err), Size: uint64(len(data))}
		if err := protocol.WriteMsg(s, resp); err != nil {
			s.Reset()
			return
		}
		if _, err := s.Write(data); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
}

// fetchBlob returns blob c from the local store, or from the first of hints that has it,
// or from a provider found in the DHT; a fetched blob is stored locally.
func (n *Node) fetchBlob(ctx context.Context, c cid.Cid, size uint64, hints ...peer.ID) ([]byte, error) {
	if data, err := n.blobs.Get(ctx, c); err == nil {
		return data, nil
	}
	tried := map[peer.ID]bool{n.id: true}
	var errs []error
	try := func(p peer.ID) ([]byte, bool) {
		if tried[p] {
			return nil, false
		}
		tried[p] = true
		data, err := n.fetchBlobFrom(ctx, p, c, size)
		if err != nil {
			errs = append(errs, err)
			return nil, false
		}
		if _, err := n.blobs.Put(ctx, data); err != nil {
			errs = append(errs, err)
		}
		return data, true
	}
	for _, p := range hints {
		if data, ok := try(p); ok {
			return data, nil
		}
	}
	pctx, cancel := context.WithTimeout(ctx, providerSearchTime)
	defer cancel()
	for info := range n.dht.FindProvidersAsync(pctx, c, 8) {
		n.host.Peerstore().AddAddrs(info.ID, info.Addrs, time.Minute)
		if data, ok := try(info.ID); ok {
			return data, nil
		}
	}
	return nil, fmt.Errorf("blob %s: no peer could serve it (%w)", c, errors.Join(errs...))
}

// fetchBlobFrom asks one peer for blob c of the given size (0: not known).
func (n *Node) fetchBlobFrom(ctx context.Context, p peer.ID, c cid.Cid, size uint64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, blobFetchTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, protocol.BlobProtocol(n.cfg.Swarm))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := protocol.WriteMsg(s, &pb.BlobRequest{Cid: c.Bytes()}); err != nil {
		s.Reset()
		return nil, err
	}
	s.CloseWrite()
	r := bufio.NewReader(s)
	var resp pb.BlobResponse
	if err := protocol.ReadMsg(r, protocol.MaxBlobRequest, &resp); err != nil {
		s.Reset()
		return nil, err
	}
	if err := protocol.FromPB(resp.GetError()); err != nil {
		return nil, err
	}
	if err := protocol.ValidateBlobResponse(&resp, size); err != nil {
		s.Reset()
		return nil, fmt.Errorf("blob %s from %s: %w", c, shortID(p), err)
	}
	data := make([]byte, resp.GetSize())
	if _, err := io.ReadFull(r, data); err != nil {
		s.Reset()
		return nil, fmt.Errorf("read blob %s from %s: %w", c, shortID(p), err)
	}
	if !tasks.ContentID(data).Equals(c) {
		return nil, fmt.Errorf("peer %s sent bytes that do not hash to %s", shortID(p), c)
	}
	return data, nil
}

// provide announces in the DHT that this node has c, in the background.
func (n *Node) provide(c cid.Cid) {
	n.goLoop("provide", func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := n.dht.Provide(ctx, c, true); err != nil {
			n.logs.blobs.Debug("provide", "cid", c.String(), "err", err)
		}
	})
}
