package protocol

import (
	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/proto"
)

// Validation of the blob protocol and of announcements (README.md sections 11 and 13).

// ValidateBlobRequest checks a blob request: its cid is a content ID (section 5.1).
func ValidateBlobRequest(req *pb.BlobRequest) error {
	c := check{"BlobRequest"}
	if len(req.GetCid()) == 0 {
		return c.bad("cid", "is empty: name the blob by its binary content ID")
	}
	if _, err := ParseContentID(req.GetCid()); err != nil {
		return c.bad("cid", "%v", err)
	}
	return nil
}

// ValidateBlobResponse checks a blob response header: on success, a size within
// MaxBlobSize and, when the caller knows the blob's size (want > 0), exactly that.
func ValidateBlobResponse(resp *pb.BlobResponse, want uint64) error {
	c := check{"BlobResponse"}
	if resp.GetError().GetCode() != pb.ErrorCode_OK {
		return nil
	}
	switch size := resp.GetSize(); {
	case size > MaxBlobSize:
		return c.bad("size", "is %d bytes, over the %d byte limit for a blob", size, MaxBlobSize)
	case want > 0 && size != want:
		return c.bad("size", "is %d bytes, but the blob has %d", size, want)
	}
	return nil
}

// ValidateAnnouncement decodes and checks the data of a message on the batch topic
// (section 13): at most MaxAnnouncement bytes, an Announcement, with a manifest within
// MaxManifestSize. The manifest itself is checked by package tasks (section 6.4).
func ValidateAnnouncement(data []byte) (*pb.Announcement, error) {
	c := check{"Announcement"}
	if len(data) > MaxAnnouncement {
		return nil, c.bad("", "is %d bytes, over the %d byte limit", len(data), MaxAnnouncement)
	}
	var a pb.Announcement
	if err := proto.Unmarshal(data, &a); err != nil {
		return nil, c.bad("", "does not decode: %v", err)
	}
	if err := c.manifest("manifest", a.GetManifest(), true, cid.Undef); err != nil {
		return nil, err
	}
	return &a, nil
}
