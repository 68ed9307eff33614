package node

import (
	"testing"

	"allforone/protocol/pb"

	"google.golang.org/protobuf/proto"
)

// TestStoredSingleReadsTheFlagAlone: the single flag read from a stored result's bytes is
// what decoding the whole message says, and garbage reads as not single.
func TestStoredSingleReadsTheFlagAlone(t *testing.T) {
	rec := &pb.ResultRecord{Task: 3, Signature: []byte("sig")}
	for _, sr := range []*pb.StoredResult{
		{},
		{Task: 3, Output: []byte("output"), Records: []*pb.ResultRecord{rec}},
		{Task: 3, Output: make([]byte, 1<<20), Records: []*pb.ResultRecord{rec, rec}, Single: true, Steward: []byte("s"), StewardSignature: []byte("x")},
		{Single: true},
	} {
		raw, err := proto.Marshal(sr)
		if err != nil {
			t.Fatal(err)
		}
		if got := storedSingle(raw); got != sr.GetSingle() {
			t.Errorf("storedSingle of a result with single=%v says %v", sr.GetSingle(), got)
		}
	}
	// Field 4 twice: the last counts.
	if !storedSingle([]byte{0x20, 0x00, 0x20, 0x01}) || storedSingle([]byte{0x20, 0x01, 0x20, 0x00}) {
		t.Error("a repeated flag: the last one must count")
	}
	for _, garbage := range [][]byte{{0xff}, {0x22, 0x10, 0x01}, {0x20}} {
		if storedSingle(garbage) {
			t.Errorf("garbage % x reads as single", garbage)
		}
	}
}
