package protocol

import (
	"testing"

	"allforone/protocol/pb"

	"google.golang.org/protobuf/proto"
)

// TestTaskHashIgnoresOrder: two stewards that learned the same records, leases, holders
// and notes of a task in other orders have one task hash; any difference in content, task
// or batch changes it.
func TestTaskHashIgnoresOrder(t *testing.T) {
	p := func(i byte) []byte { return []byte(testPeer(t, i)) }
	a := &pb.TaskState{Task: 3, Results: []*pb.ResultRecord{okRecord(t, 3), failedRecord(t, 3)},
		Leases:  []*pb.LeaseState{{Worker: p(4), GrantId: 7}, {Worker: p(5), GrantId: 2, Released: true}},
		Holders: [][]byte{p(1), p(2), p(3)},
		Notes:   []*pb.FailureNote{{Executor: p(6), Detail: "x"}, {Executor: p(5), Detail: "y"}}}
	b := proto.CloneOf(a)
	b.Holders = [][]byte{p(3), p(1), p(2)}
	b.Results[0], b.Results[1] = b.Results[1], b.Results[0]
	b.Leases[0], b.Leases[1] = b.Leases[1], b.Leases[0]
	b.Notes[0], b.Notes[1] = b.Notes[1], b.Notes[0]
	h := TaskHash(testBatch, proto.CloneOf(a))
	if TaskHash(testBatch, b) != h {
		t.Fatal("the same task state in another order has another hash")
	}
	for name, change := range map[string]func(s *pb.TaskState){
		"a holder less":   func(s *pb.TaskState) { s.Holders = s.Holders[:2] },
		"a lease renewed": func(s *pb.TaskState) { s.Leases[0].ExpiresMs++ },
		"a record less":   func(s *pb.TaskState) { s.Results = s.Results[:1] },
		"another index":   func(s *pb.TaskState) { s.Task = 1 },
	} {
		c := proto.CloneOf(a)
		change(c)
		if TaskHash(testBatch, c) == h {
			t.Errorf("%s: the hash did not change", name)
		}
	}
	if TaskHash(testOutput, proto.CloneOf(a)) == h {
		t.Error("the same task state of another batch has the same hash")
	}
}
