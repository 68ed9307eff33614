package protocol

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"slices"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
)

// TaskHash is the hash of a steward's state of one task of batch (README.md section
// 10.13): the first 8 bytes, little-endian, of the SHA-256 of DigestDomain, the batch ID's
// bytes and the task state's deterministic encoding with its results, leases, holders and
// notes sorted (by executor, grant ID, bytes and executor). Two stewards whose states of a
// task merged to the same content have one hash whatever order they learned it in. s's
// repeated fields are sorted in place.
func TaskHash(batch cid.Cid, s *pb.TaskState) uint64 {
	slices.SortFunc(s.Results, func(a, b *pb.ResultRecord) int { return bytes.Compare(a.GetExecutor(), b.GetExecutor()) })
	slices.SortFunc(s.Leases, func(a, b *pb.LeaseState) int { return cmp.Compare(a.GetGrantId(), b.GetGrantId()) })
	slices.SortFunc(s.Holders, bytes.Compare)
	slices.SortFunc(s.Notes, func(a, b *pb.FailureNote) int { return bytes.Compare(a.GetExecutor(), b.GetExecutor()) })
	enc, err := deterministic.Marshal(s)
	if err != nil {
		panic("protocol: encode task state: " + err.Error()) // a well-formed message always encodes
	}
	h := sha256.New()
	h.Write([]byte(DigestDomain))
	h.Write(batch.Bytes())
	h.Write(enc)
	var sum [sha256.Size]byte
	return binary.LittleEndian.Uint64(h.Sum(sum[:0]))
}
