package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"allforone/node/internal/p2p"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

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
