package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
)

// A holder keeps the epoch it stored a result under (protocol/README.md 12.2): another
// output under a lower epoch is refused as FENCED with that epoch (a stale primary), the
// same output under a higher epoch raises the kept epoch, and another output under a
// higher epoch replaces the held one (the higher epoch's decision wins). Over loopback,
// with results signed by a worker's key.
func TestAHolderRefusesAnotherOutputUnderALowerEpoch(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, nodes := startNodesWithConfigs(t, 2)
	holder, primary := nodes[0], nodes[1]
	connectNodes(t, primary, holder)
	raw := signedManifest(t, "test", nil)
	_, id, err := tasks.ParseManifest(raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	worker, _, _ := crypto.GenerateEd25519Key(nil)
	result := func(out string) *pb.StoredResult {
		r := tasks.ResultRecord{Batch: id, Task: 0, Output: tasks.ContentID([]byte(out)), OutputSize: uint64(len(out)),
			Finished: time.Now(), Duration: time.Millisecond}
		if err := r.Sign(worker); err != nil {
			t.Fatal(err)
		}
		return &pb.StoredResult{Task: 0, Output: []byte(out), Records: []*pb.ResultRecord{r.ToPB()}}
	}
	store := func(out string, epoch uint64) ([]uint32, error) {
		return primary.resultClient.Store(ctx, holder.id, id, raw, []*pb.StoredResult{result(out)}, epoch)
	}
	held := func() (string, uint64) {
		sr, err := holder.loadResult(ctx, id, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		return string(sr.GetOutput()), sr.GetEpoch()
	}
	if have, err := store("A", 5); err != nil || len(have) != 1 {
		t.Fatalf("first store: have %v, %v", have, err)
	}
	have, err := store("B", 3)
	var we *protocol.WireError
	if !errors.As(err, &we) || we.Code != pb.ErrorCode_FENCED || we.Epoch != 5 || len(have) != 0 {
		t.Fatalf("another output under a lower epoch: have %v, %v; want FENCED with epoch 5", have, err)
	}
	if out, e := held(); out != "A" || e != 5 {
		t.Fatalf("after the stale store the holder has %q under epoch %d", out, e)
	}
	if have, err := store("A", 7); err != nil || len(have) != 1 {
		t.Fatalf("the same output under a higher epoch: have %v, %v", have, err)
	}
	if out, e := held(); out != "A" || e != 7 {
		t.Fatalf("after the same output under epoch 7 the holder has %q under epoch %d", out, e)
	}
	if have, err := store("C", 0); err != nil || len(have) != 1 {
		t.Fatalf("a store without an epoch (a repair): have %v, %v", have, err)
	}
	if out, _ := held(); out != "A" {
		t.Fatalf("a store without an epoch replaced the output with %q", out)
	}
	if have, err := store("D", 9); err != nil || len(have) != 1 {
		t.Fatalf("another output under a higher epoch: have %v, %v", have, err)
	}
	if out, e := held(); out != "D" || e != 9 {
		t.Fatalf("after another output under epoch 9 the holder has %q under epoch %d", out, e)
	}
}
