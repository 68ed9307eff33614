package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"allforone/protocol"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"
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

// request sends req to p on pid and reads the response into resp. Without a deadline in
// ctx the exchange gets requestTimeout.
func (n *Node) request(ctx context.Context, p peer.ID, pid libp2pproto.ID, max int, req, resp proto.Message) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	s, err := n.host.NewStream(ctx, p, pid)
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
	if err := protocol.ReadMsg(bufio.NewReader(s), max, resp); err != nil {
		s.Reset()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("read answer from %s: %w", shortID(p), err)
	}
	return s.Close()
}

// handler answers one request from a peer. It returns the response to send.
type handler[Req, Resp proto.Message] func(ctx context.Context, from peer.ID, req Req) Resp

// serve registers a request/response handler for pid: it reads one request (at most max
// bytes), calls h and writes its answer. Bad input resets the stream.
func serve[Req, Resp proto.Message](n *Node, pid libp2pproto.ID, max int, newReq func() Req, h handler[Req, Resp]) {
	n.host.SetStreamHandler(pid, func(s network.Stream) {
		if !n.enter() {
			s.Reset()
			return
		}
		defer n.wg.Done()
		from := s.Conn().RemotePeer()
		s.SetReadDeadline(time.Now().Add(readTimeout))
		req := newReq()
		if err := protocol.ReadMsg(bufio.NewReader(s), max, req); err != nil {
			if !errors.Is(err, io.EOF) {
				n.log.Debug("bad request", "proto", pid, "from", shortID(from), "err", err)
			}
			s.Reset()
			return
		}
		ctx, cancel := context.WithTimeout(n.ctx, handleTimeout)
		defer cancel()
		resp := h(ctx, from, req)
		s.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := protocol.WriteMsg(s, resp); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
}
