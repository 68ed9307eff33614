package tasks

import (
	"errors"
	"testing"
)

func TestVerifiedRecordsRemembersOnlyWhatVerified(t *testing.T) {
	_, keys := testPeers(t, 1)
	v := NewVerifiedRecords(4)
	good := ResultRecord{Batch: ContentID([]byte("b")), Task: 1, Output: ContentID([]byte("out")), Finished: t0}
	if err := good.Sign(keys[0]); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time from memory
		if err := v.Verify(&good); err != nil {
			t.Fatalf("a good record: %v", err)
		}
	}
	// The same signature on other content is checked, and refused, however often the
	// good record was seen.
	forged := good
	forged.Output = ContentID([]byte("other"))
	for range 2 {
		if err := v.Verify(&forged); !errors.Is(err, ErrBadResultSignature) {
			t.Fatalf("a forged record: got %v, want ErrBadResultSignature", err)
		}
	}
	// Past its capacity it forgets the oldest and checks them again (still fine).
	for i := range 10 {
		r := good
		r.Task = 10 + i
		if err := r.Sign(keys[0]); err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(&r); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.cur) + len(v.prev); n > 4 {
		t.Errorf("remembers %d records, capacity 4", n)
	}
	if err := v.Verify(&good); err != nil {
		t.Fatalf("a good record, forgotten: %v", err)
	}
}

func TestVerifiedRecordsRememberVouchesForARecord(t *testing.T) {
	_, keys := testPeers(t, 1)
	v := NewVerifiedRecords(16)
	r := ResultRecord{Batch: ContentID([]byte("b")), Task: 2, Output: ContentID([]byte("out")), Finished: t0}
	if err := r.Sign(keys[0]); err != nil {
		t.Fatal(err)
	}
	// A node remembers what it stored after checking it; a record so vouched for is not
	// checked again, which the bad signature here shows.
	r.Signature[0] ^= 0xff
	if err := v.Verify(&r); !errors.Is(err, ErrBadResultSignature) {
		t.Fatalf("before Remember: got %v, want ErrBadResultSignature", err)
	}
	v.Remember(&r)
	if err := v.Verify(&r); err != nil {
		t.Fatalf("after Remember: %v", err)
	}
	other := r
	other.Task = 3
	if err := v.Verify(&other); !errors.Is(err, ErrBadResultSignature) {
		t.Fatalf("a record not remembered: got %v, want ErrBadResultSignature", err)
	}
}
