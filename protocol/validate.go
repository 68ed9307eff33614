package protocol

import (
	"errors"
	"fmt"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Validation: what every message must look like before anyone acts on it (README.md,
// sections 4 to 13). The Validate functions check shape only: sizes, counts, fields that
// must be present, IDs that must parse, fields that must agree within the message, and
// that signatures are there. Checks that need more than the message (a signature against a
// key, a task index against the batch's manifest, a record's executor against the peer
// that sent it) stay with the code that has the key or the batch.

// ErrInvalid is matched (errors.Is) by every error of a Validate function: the message
// breaks the wire contract. Such errors also match ErrBadRequest, which is how a server
// answers them.
var ErrInvalid = errors.New("invalid message")

// InvalidError says what is wrong with a message: which message, which field, and why.
type InvalidError struct {
	Message string // the message type, e.g. "StewardRequest"
	Field   string // the field, as a path: "complete.records[3].output_cid"; "" for the whole message
	Problem string // what is wrong, and what a sender should do instead
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("invalid %s: %s", e.Message, e.Problem)
	}
	return fmt.Sprintf("invalid %s: %s: %s", e.Message, e.Field, e.Problem)
}

// Is makes errors.Is(err, ErrInvalid) and errors.Is(err, ErrBadRequest) hold, so ToPB
// answers an invalid request with BAD_REQUEST.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid || target == ErrBadRequest }

// join makes the path of a field inside the message at path.
func join(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	}
	return path + "." + field
}

// within puts the field of an InvalidError inside path: the checks of a part of a message
// name fields relative to it, and the paths (with indexes) are built only for an error.
func within(err error, path string) error {
	var ie *InvalidError
	if errors.As(err, &ie) {
		ie.Field = join(path, ie.Field)
	}
	return err
}

// check builds the errors of one message's validation.
type check struct{ msg string }

func (c check) bad(field, format string, args ...any) error {
	return &InvalidError{Message: c.msg, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// batchID checks a required binary batch ID: a content ID (section 5.2).
func (c check) batchID(field string, b []byte) (cid.Cid, error) {
	if len(b) == 0 {
		return cid.Undef, c.bad(field, "is empty: name the batch by its binary batch ID")
	}
	id, err := ParseContentID(b)
	if err != nil {
		return cid.Undef, c.bad(field, "%v: a batch ID is the CIDv1 (raw, sha2-256) of the signed manifest", err)
	}
	return id, nil
}

// peerID checks a required binary peer ID.
func (c check) peerID(field string, b []byte) error {
	if len(b) == 0 {
		return c.bad(field, "is empty: a binary peer ID is required")
	}
	if _, err := peer.IDFromBytes(b); err != nil {
		return c.bad(field, "is not a binary peer ID: %v", err)
	}
	return nil
}

// signature checks that a required signature is there and has the size of one.
func (c check) signature(field string, sig []byte) error {
	switch len(sig) {
	case SignatureSize:
		return nil
	case 0:
		return c.bad(field, "is missing: the message must be signed")
	}
	return c.bad(field, "is %d bytes: an Ed25519 signature is %d", len(sig), SignatureSize)
}

// tasks bounds a list of task indexes.
func (c check) tasks(field string, ts []uint32) error {
	if len(ts) > MaxTasks {
		return c.bad(field, "lists %d tasks: a batch has at most %d", len(ts), MaxTasks)
	}
	return nil
}

// task checks one task index.
func (c check) task(field string, t uint32) error {
	if t >= MaxTasks {
		return c.bad(field, "is %d: a batch has at most %d tasks", t, MaxTasks)
	}
	return nil
}

// manifest checks the size of a signed manifest and, when batch is defined, that it is
// that batch's (its content ID is the batch ID). Decoding and checking the manifest itself
// is package tasks' (section 6.4).
func (c check) manifest(field string, m []byte, required bool, batch cid.Cid) error {
	switch {
	case len(m) == 0 && required:
		return c.bad(field, "is empty: send the batch's signed manifest")
	case len(m) == 0:
		return nil
	case len(m) > MaxManifestSize:
		return c.bad(field, "is %d bytes, over the %d byte limit for a manifest", len(m), MaxManifestSize)
	case batch.Defined() && !ContentID(m).Equals(batch):
		return c.bad(field, "is batch %s, not %s: send the manifest of the batch the request names", ContentID(m), batch)
	}
	return nil
}

// ValidateResultRecord checks the shape of a result record (section 7): batch_id is a
// content ID, executor a peer ID, output_cid a content ID and present exactly when error
// is empty, error at most MaxErrorKind bytes, and a signature present. Verifying the
// signature needs the executor's key (package tasks).
func ValidateResultRecord(r *pb.ResultRecord) error {
	return check{"ResultRecord"}.record(r, cid.Undef, -1)
}

// record checks r; a defined batch and a task >= 0 must match it. Fields are r's own.
func (c check) record(r *pb.ResultRecord, batch cid.Cid, task int64) error {
	if r == nil {
		return c.bad("", "is empty")
	}
	id, err := c.batchID("batch_id", r.GetBatchId())
	if err != nil {
		return err
	}
	if batch.Defined() && !id.Equals(batch) {
		return c.bad("batch_id", "is %s: the record belongs to another batch than %s", id, batch)
	}
	if task >= 0 && int64(r.GetTask()) != task {
		return c.bad("task", "is %d: the record belongs to another task than %d", r.GetTask(), task)
	}
	if err := c.task("task", r.GetTask()); err != nil {
		return err
	}
	if err := c.peerID("executor", r.GetExecutor()); err != nil {
		return err
	}
	switch {
	case len(r.GetOutputCid()) > 0 && r.GetError() != "":
		return c.bad("output_cid", "is set on a failed record (error %q): a failed execution has no output", r.GetError())
	case len(r.GetOutputCid()) == 0 && r.GetError() == "":
		return c.bad("output_cid", "is empty on a successful record: name the output, or say in error why there is none")
	case len(r.GetOutputCid()) > 0:
		if _, err := ParseContentID(r.GetOutputCid()); err != nil {
			return c.bad("output_cid", "%v", err)
		}
	}
	if len(r.GetError()) > MaxErrorKind {
		return c.bad("error", "is %d bytes: a failure kind is at most %d", len(r.GetError()), MaxErrorKind)
	}
	return c.signature("signature", r.GetSignature())
}

// taskState checks one task of a steward's state copy (section 10.6). Fields are t's own.
func (c check) taskState(t *pb.TaskState, batch cid.Cid) error {
	if err := c.task("task", t.GetTask()); err != nil {
		return err
	}
	if len(t.GetResults()) > MaxRecordsPerTask {
		return c.bad("results", "has %d records: a task has at most %d", len(t.GetResults()), MaxRecordsPerTask)
	}
	for i, r := range t.GetResults() {
		if err := c.record(r, batch, int64(t.GetTask())); err != nil {
			return within(err, fmt.Sprintf("results[%d]", i))
		}
	}
	for i, l := range t.GetLeases() {
		if err := c.peerID("worker", l.GetWorker()); err != nil {
			return within(err, fmt.Sprintf("leases[%d]", i))
		}
	}
	for i, h := range t.GetHolders() {
		if err := c.peerID("", h); err != nil {
			return within(err, fmt.Sprintf("holders[%d]", i))
		}
	}
	if len(t.GetNotes()) > MaxRecordsPerTask {
		return c.bad("notes", "has %d notes: a task has at most %d", len(t.GetNotes()), MaxRecordsPerTask)
	}
	for i, n := range t.GetNotes() {
		if err := c.peerID("executor", n.GetExecutor()); err != nil {
			return within(err, fmt.Sprintf("notes[%d]", i))
		}
	}
	if out := t.GetDecidedOutput(); len(out) > 0 {
		if t.GetDecidedEpoch() == 0 {
			return c.bad("decided_output", "is set with decided_epoch 0: a decision names the epoch of the primary that made it")
		}
		if _, err := ParseContentID(out); err != nil {
			return c.bad("decided_output", "%v: an output is named by its content ID", err)
		}
	}
	return nil
}

// taskStates checks the tasks of a StateDelta or StateSnapshot, at field.
func (c check) taskStates(field string, ts []*pb.TaskState, batch cid.Cid) error {
	if len(ts) > MaxTasks {
		return c.bad(field, "has %d task states: a batch has at most %d tasks", len(ts), MaxTasks)
	}
	for i, t := range ts {
		if err := c.taskState(t, batch); err != nil {
			return within(err, fmt.Sprintf("%s[%d]", field, i))
		}
	}
	return nil
}

// storedResult checks an accepted result (section 12.1): records that agree on one
// output, of its task and batch, and a steward's voucher when it ran single. Whether the
// records form a quorum, their signatures and the output's hash are checked by the holder,
// which has the manifest and the keys. Fields are sr's own.
func (c check) storedResult(sr *pb.StoredResult, batch cid.Cid) error {
	if err := c.task("task", sr.GetTask()); err != nil {
		return err
	}
	recs := sr.GetRecords()
	switch {
	case len(recs) == 0:
		return c.bad("records", "is empty: a stored result carries the signed records that accepted it")
	case len(recs) > MaxRecordsPerTask:
		return c.bad("records", "has %d records: a task has at most %d", len(recs), MaxRecordsPerTask)
	}
	for i, r := range recs {
		if err := c.record(r, batch, int64(sr.GetTask())); err != nil {
			return within(err, fmt.Sprintf("records[%d]", i))
		}
		if r.GetError() != "" {
			return c.bad(fmt.Sprintf("records[%d]", i), "is a failure (%q): a stored result carries only the records that agree on its output", r.GetError())
		}
		if string(r.GetOutputCid()) != string(recs[0].GetOutputCid()) {
			return c.bad(fmt.Sprintf("records[%d].output_cid", i), "differs from records[0]'s: a stored result carries only the records that agree on its output")
		}
	}
	if sr.GetSingle() {
		if err := c.peerID("steward", sr.GetSteward()); err != nil {
			return err
		}
		if err := c.signature("steward_signature", sr.GetStewardSignature()); err != nil {
			return err
		}
	}
	return nil
}

// ValidateStoredResult checks the shape of an accepted result of batch (section 12.1).
func ValidateStoredResult(sr *pb.StoredResult, batch cid.Cid) error {
	return check{"StoredResult"}.storedResult(sr, batch)
}
