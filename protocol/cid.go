package protocol

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Content IDs and the identifiers derived from them (README.md section 5).

// ContentID returns the content ID of data: CIDv1, raw codec, sha2-256 multihash. Modules,
// inputs, outputs and manifests (batch IDs) are all named this way.
func ContentID(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	return ContentIDOfDigest(sum[:])
}

// ContentIDOfDigest returns the content ID whose sha2-256 digest is digest (32 bytes), for
// data hashed as it streams.
func ContentIDOfDigest(digest []byte) cid.Cid {
	h, err := mh.Encode(digest, mh.SHA2_256)
	if err != nil {
		// mh.Encode fails only for unknown codes or wrong lengths (a caller's bug).
		panic(fmt.Sprintf("protocol: encode sha2-256 multihash: %v", err))
	}
	return cid.NewCidV1(cid.Raw, h)
}

// CheckContentID returns an error unless c is a CIDv1 with the raw codec and a sha2-256
// multihash, the only content IDs allforone accepts.
func CheckContentID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("content ID is empty")
	}
	p := c.Prefix()
	if p.Version != 1 || p.Codec != cid.Raw || p.MhType != mh.SHA2_256 || p.MhLength != sha256.Size {
		return fmt.Errorf("content ID %s is not a CIDv1 with the raw codec and a sha2-256 hash", c)
	}
	return nil
}

// ParseContentID reads a binary content ID from the wire and checks it (CheckContentID).
func ParseContentID(b []byte) (cid.Cid, error) {
	if len(b) == 0 {
		return cid.Undef, fmt.Errorf("content ID is empty")
	}
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("content ID does not parse: %w", err)
	}
	if err := CheckContentID(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}

// TaskID returns the ID of task index of a batch: the content ID of the batch ID's binary
// form followed by the uvarint of index.
func TaskID(batch cid.Cid, index int) cid.Cid {
	b := batch.Bytes()
	buf := make([]byte, 0, len(b)+binary.MaxVarintLen64)
	buf = append(buf, b...)
	buf = binary.AppendUvarint(buf, uint64(index))
	return ContentID(buf)
}

// TaskSeed returns the seed of a task's random source: sha2-256 of TaskSeedDomain and the
// task ID's binary form. Every machine that runs the task gives it the same random bytes.
func TaskSeed(task cid.Cid) [32]byte {
	h := sha256.New()
	h.Write([]byte(TaskSeedDomain))
	h.Write(task.Bytes())
	var s [32]byte
	h.Sum(s[:0])
	return s
}
