package protocol

import (
	"testing"

	"allforone/protocol/pb"

	"google.golang.org/protobuf/proto"
)

// TestStateDigestIgnoresOrder: two stewards that learned the same records, leases, holders
// and notes in other orders have one digest; any difference in content changes it.
func TestStateDigestIgnoresOrder(t *testing.T) {
	p := func(i byte) []byte { return []byte(testPeer(t, i)) }
	a := []*pb.TaskState{
		{Task: 0, Holders: [][]byte{p(1), p(2), p(3)}},
		{Task: 3, Results: []*pb.ResultRecord{okRecord(t, 3), failedRecord(t, 3)},
			Leases: []*pb.LeaseState{{Worker: p(4), GrantId: 7}, {Worker: p(5), GrantId: 2, Released: true}},
			Notes:  []*pb.FailureNote{{Executor: p(6), Detail: "x"}, {Executor: p(5), Detail: "y"}}},
	}
	b := []*pb.TaskState{proto.CloneOf(a[0]), proto.CloneOf(a[1])}
	b[0].Holders = [][]byte{p(3), p(1), p(2)}
	b[1].Results[0], b[1].Results[1] = b[1].Results[1], b[1].Results[0]
	b[1].Leases[0], b[1].Leases[1] = b[1].Leases[1], b[1].Leases[0]
	b[1].Notes[0], b[1].Notes[1] = b[1].Notes[1], b[1].Notes[0]
	d := StateDigest(testBatch, a)
	if StateDigest(testBatch, b) != d {
		t.Fatal("the same state in another order has another digest")
	}
	for name, change := range map[string]func(s []*pb.TaskState) []*pb.TaskState{
		"a holder less":   func(s []*pb.TaskState) []*pb.TaskState { s[0].Holders = s[0].Holders[:2]; return s },
		"a lease renewed": func(s []*pb.TaskState) []*pb.TaskState { s[1].Leases[0].ExpiresMs++; return s },
		"a task less":     func(s []*pb.TaskState) []*pb.TaskState { return s[:1] },
		"another index":   func(s []*pb.TaskState) []*pb.TaskState { s[0].Task = 1; return s },
	} {
		c := []*pb.TaskState{proto.CloneOf(a[0]), proto.CloneOf(a[1])}
		if StateDigest(testBatch, change(c)) == d {
			t.Errorf("%s: the digest did not change", name)
		}
	}
	if StateDigest(testOutput, a) == d {
		t.Error("the digest of another batch's state is the same")
	}
}
