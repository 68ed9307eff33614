package tasks

import (
	"allforone/protocol"

	"github.com/ipfs/go-cid"
)

// Content IDs and task IDs are part of the wire contract: package protocol defines them
// (protocol/README.md section 5); these are the names the domain uses.

// ContentID returns the content ID of data: CIDv1, raw codec, sha2-256 multihash. Modules,
// inputs, outputs and manifests are all named this way.
func ContentID(data []byte) cid.Cid { return protocol.ContentID(data) }

// CheckContentID returns an error unless c is a CIDv1 with the raw codec and a sha2-256
// multihash, the only content IDs allforone accepts.
func CheckContentID(c cid.Cid) error { return protocol.CheckContentID(c) }

// TaskID returns the ID of task index of a batch: the content ID of the batch ID's binary
// form followed by the uvarint of index. It is stable across machines and names the task's
// results.
func TaskID(batch cid.Cid, index int) cid.Cid { return protocol.TaskID(batch, index) }

// TaskSeed returns the seed of a task's random source: sha2-256 of a domain string and the
// task ID. Every machine that runs the task gives it the same random bytes.
func TaskSeed(task cid.Cid) [32]byte { return protocol.TaskSeed(task) }
