package protocol

import (
	"bufio"
	"bytes"
	"testing"

	"allforone/protocol/pb"

	"google.golang.org/protobuf/proto"
)

// seedFrames are valid frames of every message type, the start of the fuzz corpus.
func seedFrames(f *testing.F) {
	msgs := []proto.Message{
		&pb.StewardRequest{BatchId: []byte("batch"), Body: &pb.StewardRequest_Lease{Lease: &pb.LeaseRequest{Max: 4}}},
		&pb.StewardRequest{BatchId: []byte("batch"), Body: &pb.StewardRequest_Complete{Complete: &pb.Complete{
			Records: []*pb.ResultRecord{{Task: 3, OutputCid: []byte("cid"), Signature: []byte("sig")}}, Outputs: [][]byte{[]byte("out")}}}},
		&pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: &pb.LeaseGrant{Leases: []*pb.Lease{{Task: 1, ExpiresMs: 5}}}}},
		&pb.StewardResponse{Error: &pb.Error{Code: pb.ErrorCode_NOT_STEWARD, StewardHint: []byte("peer")}},
		&pb.ResultRequest{BatchId: []byte("b"), Body: &pb.ResultRequest_Fetch{Fetch: &pb.FetchResults{Tasks: []uint32{1, 2}}}},
		&pb.ResultResponse{Results: []*pb.StoredResult{{Task: 1, Output: []byte("x")}}},
		&pb.BlobRequest{Cid: []byte("cid")},
		&pb.BlobResponse{Size: 10},
		&pb.Announcement{Manifest: []byte("manifest")},
	}
	for _, m := range msgs {
		var buf bytes.Buffer
		if err := WriteMsg(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})       // a huge length
	f.Add([]byte{0x05, 0x01})                         // truncated
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80}) // an endless varint
}

// FuzzReadMsg feeds arbitrary bytes to the frame decoder as every message type a peer can
// send: it must return an error or a message, never panic, and never read past a limit.
func FuzzReadMsg(f *testing.F) {
	seedFrames(f)
	news := []func() proto.Message{
		func() proto.Message { return &pb.StewardRequest{} },
		func() proto.Message { return &pb.StewardResponse{} },
		func() proto.Message { return &pb.ResultRequest{} },
		func() proto.Message { return &pb.ResultResponse{} },
		func() proto.Message { return &pb.BlobRequest{} },
		func() proto.Message { return &pb.BlobResponse{} },
		func() proto.Message { return &pb.Announcement{} },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mk := range news {
			m := mk()
			err := ReadMsg(bufio.NewReader(bytes.NewReader(data)), 1<<16, m)
			if err == nil {
				// What decoded re-encodes and decodes again to the same message.
				var buf bytes.Buffer
				if err := WriteMsg(&buf, m); err != nil {
					t.Fatalf("re-encode %T: %v", m, err)
				}
				m2 := mk()
				if err := ReadMsg(bufio.NewReader(&buf), 1<<20, m2); err != nil || !proto.Equal(m, m2) {
					t.Fatalf("%T does not survive a round trip: %v", m, err)
				}
			}
		}
	})
}

func TestReadMsgLimits(t *testing.T) {
	var buf bytes.Buffer
	WriteMsg(&buf, &pb.Announcement{Manifest: make([]byte, 2000)})
	err := ReadMsg(bufio.NewReader(bytes.NewReader(buf.Bytes())), 1000, &pb.Announcement{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("over the 1000 byte limit")) {
		t.Fatalf("oversized frame: %v", err)
	}
	// The length is checked before the body is read: a frame that claims 1 GiB but
	// carries nothing fails at once.
	huge := []byte{0x80, 0x80, 0x80, 0x80, 0x04}
	if err := ReadMsg(bufio.NewReader(bytes.NewReader(huge)), 1<<20, &pb.Announcement{}); err == nil {
		t.Fatal("a 1 GiB length was accepted")
	}
	trunc := buf.Bytes()[:10]
	if err := ReadMsg(bufio.NewReader(bytes.NewReader(trunc)), 1<<20, &pb.Announcement{}); err == nil {
		t.Fatal("a truncated frame was accepted")
	}
}

func TestWireErrors(t *testing.T) {
	we := &WireError{Code: pb.ErrorCode(999)}
	if we.Error() == "" {
		t.Fatal("unknown code has no message")
	}
	back := FromPB(ToPB(Errorf(pb.ErrorCode_NOT_FOUND, "x")))
	if back == nil || !bytesContains(back.Error(), "not found") {
		t.Fatalf("round trip: %v", back)
	}
	if FromPB(&pb.Error{Code: 12345}) == nil {
		t.Fatal("an unknown code from a newer peer reads as no error")
	}
}

func bytesContains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }
