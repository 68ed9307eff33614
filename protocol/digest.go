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

// StateDigest is the digest of a steward's state of batch (README.md section 10.13): the
// SHA-256 of DigestDomain, the batch ID's bytes and, for each task state in task order,
// uvarint(length) and its deterministic encoding with results, leases, holders and notes
// sorted (by executor, grant ID, peer ID and executor). Two stewards whose states merge
// to the same thing have the same digest whatever order they learned things in. states
// must be in task order; their repeated fields are sorted in place.
func StateDigest(batch cid.Cid, states []*pb.TaskState) [DigestSize]byte {
	h := sha256.New()
	h.Write([]byte(DigestDomain))
	h.Write(batch.Bytes())
	var n [binary.MaxVarintLen64]byte
	var buf []byte
	for _, s := range states {
		slices.SortFunc(s.Results, func(a, b *pb.ResultRecord) int { return bytes.Compare(a.GetExecutor(), b.GetExecutor()) })
		slices.SortFunc(s.Leases, func(a, b *pb.LeaseState) int { return cmp.Compare(a.GetGrantId(), b.GetGrantId()) })
		slices.SortFunc(s.Holders, bytes.Compare)
		slices.SortFunc(s.Notes, func(a, b *pb.FailureNote) int { return bytes.Compare(a.GetExecutor(), b.GetExecutor()) })
		var err error
		if buf, err = deterministic.MarshalAppend(buf[:0], s); err != nil {
			panic("protocol: encode task state: " + err.Error()) // a well-formed message always encodes
		}
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(buf)))])
		h.Write(buf)
	}
	var out [DigestSize]byte
	h.Sum(out[:0])
	return out
}
