package tasks

import (
	"crypto/sha256"
	"sync"
)

// VerifiedRecords remembers result records whose signatures were checked, so a record
// that reaches a node several times (in a steward's state copy, in a result to hold, in a
// repair) costs one Ed25519 verification, not one per arrival. It holds at most about
// its capacity; the least recently added half goes first. Safe for concurrent use.
type VerifiedRecords struct {
	mu        sync.Mutex
	cap       int
	cur, prev map[[32]byte]struct{}
}

// NewVerifiedRecords remembers up to about capacity records (32 bytes each).
func NewVerifiedRecords(capacity int) *VerifiedRecords {
	return &VerifiedRecords{cap: max(capacity, 2), cur: map[[32]byte]struct{}{}}
}

// Remember marks r as verified without checking it: for records this node checked before
// it stored them (its own datastore), so that copies of them arriving from peers after a
// restart cost one hash instead of a signature check each.
func (v *VerifiedRecords) Remember(r *ResultRecord) {
	key, err := recordKey(r)
	if err != nil {
		return
	}
	v.add(key)
}

// Verify checks r's signature (ResultRecord.Verify) unless this exact record, signature
// included, was verified before.
func (v *VerifiedRecords) Verify(r *ResultRecord) error {
	key, err := recordKey(r)
	if err != nil {
		return err
	}
	v.mu.Lock()
	_, seen := v.cur[key]
	if !seen {
		_, seen = v.prev[key]
	}
	v.mu.Unlock()
	if seen {
		return nil
	}
	if err := r.Verify(); err != nil {
		return err
	}
	v.add(key)
	return nil
}

func (v *VerifiedRecords) add(key [32]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cur) >= v.cap/2 {
		v.prev, v.cur = v.cur, make(map[[32]byte]struct{}, v.cap/2)
	}
	v.cur[key] = struct{}{}
}

// recordKey is the hash of r's signed bytes and its signature.
func recordKey(r *ResultRecord) ([32]byte, error) {
	var key [32]byte
	b, err := r.signingBytes()
	if err != nil {
		return key, err
	}
	h := sha256.New()
	h.Write(b)
	h.Write(r.Signature)
	h.Sum(key[:0])
	return key, nil
}
