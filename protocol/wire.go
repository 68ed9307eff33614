package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// Protocol IDs of the direct-stream protocols. Each stream carries one request and one
// response.
func StewardProtocol(swarm string) protocol.ID { return ID(swarm, "steward", "1.0.0") }

// BlobProtocol serves content-addressed blobs (modules, inputs, outputs).
func BlobProtocol(swarm string) protocol.ID { return ID(swarm, "blob", "1.0.0") }

// ResultProtocol stores and serves accepted results.
func ResultProtocol(swarm string) protocol.ID { return ID(swarm, "result", "1.0.0") }

// WriteMsg writes m with its uvarint length prefix.
func WriteMsg(w io.Writer, m proto.Message) error {
	_, err := protodelim.MarshalTo(w, m)
	return err
}

// ReadMsg reads one length-prefixed message into m, refusing a length over max before
// reading the body. r must be the one bufio.Reader of the stream.
func ReadMsg(r *bufio.Reader, max int, m proto.Message) error {
	err := protodelim.UnmarshalOptions{MaxSize: int64(max)}.UnmarshalFrom(r, m)
	if err != nil {
		var tooBig *protodelim.SizeTooLargeError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: message of %d bytes over the %d byte limit", ErrTooLarge, tooBig.Size, max)
		}
		if err == io.EOF {
			return err
		}
		return fmt.Errorf("decode %T: %w", m, err)
	}
	return nil
}
