package tasks

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"allforone/protocol"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ManifestVersion is the manifest format this package writes and reads.
const ManifestVersion = 1

// Manifest limits. Validate enforces them; the network enforces MaxManifestSize before
// decoding anything.
const (
	// MaxManifestSize bounds an encoded manifest: 64 KiB. Large input lists belong in a
	// range input or in blobs.
	MaxManifestSize = protocol.MaxManifestSize
	// MaxInlineInput bounds one inline input value and a range's prefix plus suffix: 1 KiB.
	MaxInlineInput = 1 << 10
	// MaxTasks bounds the number of tasks in one batch.
	MaxTasks = protocol.MaxTasks
	// MaxRedundancy bounds R and the number of replicas on disagreement.
	MaxRedundancy = 16
	// MaxReplication bounds K.
	MaxReplication = 16
	// MaxMemoryPages is the largest memory limit: 65536 pages of 64 KiB (4 GiB), the
	// WebAssembly 32-bit maximum.
	MaxMemoryPages = 65536
	// MaxTimeout is the largest per-task time limit.
	MaxTimeout = 24 * time.Hour
	// MaxOutputLimit is the largest per-task output limit: 64 MiB.
	MaxOutputLimit = 64 << 20
	// maxNameLen bounds the swarm name, the batch name, args and env entries (bytes).
	maxNameLen = 256
)

// PageSize is the size of one WebAssembly memory page: 64 KiB.
const PageSize = 65536

// Manifest describes a batch: one WebAssembly module run over many inputs, with limits and
// the redundancy and replication it asks for. It is signed by its submitter; the content ID
// of its signed canonical encoding is the batch ID. The encoding is documented in
// protocol/pb/manifest.proto and README.md.
type Manifest struct {
	Version     uint32            // format version, ManifestVersion
	Swarm       string            // swarm name; a manifest is valid in this swarm only
	Name        string            // human label
	Module      BlobRef           // the module, a WASI preview 1 command
	Inputs      []Input           // the input list; see NumTasks and Input for the expansion
	Args        []string          // argv[1:] seen by the module; argv[0] is "task"
	Env         map[string]string // environment seen by the module
	Limits      Limits            // per-task limits, all set
	Redundancy  uint32            // R: executions per task that must agree, >= 1
	Replication uint32            // K: peers that keep each accepted result, >= 1
	MaxReplicas uint32            // bound on executions of a task when results disagree, >= R
	// AdaptiveReplication allows a trusted peer to run a task alone on a sampled basis.
	AdaptiveReplication bool
	// MinRedundancy is the R of a task that adaptive replication gives a trusted peer
	// alone; 0 means 1. At most Redundancy.
	MinRedundancy uint32
	CreatedAt     time.Time // creation time, millisecond precision
	Deadline      time.Time // after it the batch is abandoned, millisecond precision
	Nonce         []byte    // 8 to 32 random bytes
	Submitter     peer.ID   // the signer; set by Sign
	Signature     []byte    // Ed25519 signature; set by Sign
}

// BlobRef names a blob by content ID and size.
type BlobRef struct {
	CID  cid.Cid
	Size uint64
}

// InputKind says which form an Input takes.
type InputKind uint8

// Input kinds.
const (
	InputBlob   InputKind = iota + 1 // one task whose input is a blob
	InputInline                      // one task whose input is a small inline value
	InputRange                       // one task per integer of a range
)

// Input is one entry of a manifest's input list. Kind says which field is used; build one
// with BlobInput, InlineInput or RangeInput.
type Input struct {
	Kind   InputKind
	Blob   BlobRef // InputBlob: the input is this blob
	Inline []byte  // InputInline: the input is these bytes (at most MaxInlineInput)
	Range  Range   // InputRange: one task per integer in [Start, End)
}

// BlobInput is an input of one task read from a blob.
func BlobInput(ref BlobRef) Input { return Input{Kind: InputBlob, Blob: ref} }

// InlineInput is an input of one task carried in the manifest itself.
func InlineInput(b []byte) Input { return Input{Kind: InputInline, Inline: b} }

// RangeInput is an input list of r.Count() generated tasks.
func RangeInput(r Range) Input { return Input{Kind: InputRange, Range: r} }

// count is the number of tasks the input stands for.
func (in Input) count() int64 {
	if in.Kind == InputRange {
		return in.Range.Count()
	}
	return 1
}

// Range generates one task per integer i in [Start, End) whose input is
// Prefix || decimal(i) || Suffix. A 400-tile image is one Range.
type Range struct {
	Start, End     int64
	Prefix, Suffix []byte
}

// Count is the number of tasks the range generates (0 for an empty or inverted range). It
// never overflows: a range wider than math.MaxInt64 counts math.MaxInt64.
func (r Range) Count() int64 {
	if r.End <= r.Start {
		return 0
	}
	d := uint64(r.End) - uint64(r.Start) // two's complement: exact for any Start < End
	if d > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(d)
}

// Check refuses a range that is empty or whose values lie outside the bounds a manifest
// allows, saying what to fix. It only compares numbers, so a range of any size costs
// nothing to check.
func (r Range) Check() error {
	if r.End <= r.Start {
		return fmt.Errorf("range [%d, %d) is empty: end must be greater than start", r.Start, r.End)
	}
	if r.Start < minRangeValue || r.End > maxRangeValue {
		return fmt.Errorf("range [%d, %d) is out of bounds: start and end must lie within [%d, %d]", r.Start, r.End, minRangeValue, maxRangeValue)
	}
	if n := len(r.Prefix) + len(r.Suffix); n > MaxInlineInput {
		return fmt.Errorf("range prefix and suffix are %d bytes: at most %d together", n, MaxInlineInput)
	}
	return nil
}

// Bounds of a range's start and end.
const (
	minRangeValue = -math.MaxInt64 / 2
	maxRangeValue = math.MaxInt64 / 2
)

// AddTasks adds n tasks to a running total without overflowing: a sum past math.MaxInt64
// stays at math.MaxInt64. Counting a batch's tasks with it and comparing with MaxTasks
// refuses a huge batch by arithmetic, before anything per task is built.
func AddTasks(total, n int64) int64 {
	if n > math.MaxInt64-total {
		return math.MaxInt64
	}
	return total + n
}

// CheckTaskCount refuses more than MaxTasks tasks, saying what to do.
func CheckTaskCount(n int64) error {
	if n > MaxTasks {
		if n == math.MaxInt64 {
			return fmt.Errorf("more than %d tasks (the ranges alone count more than %d): split the batch", MaxTasks, int64(math.MaxInt64))
		}
		return fmt.Errorf("%d tasks is more than %d: split the batch", n, MaxTasks)
	}
	return nil
}

// Limits bound one task's execution. In a manifest every field is required; in an executor
// Job a zero field means the node's own cap.
type Limits struct {
	MemoryPages    uint32        // linear memory in 64 KiB pages
	Timeout        time.Duration // wall time, millisecond precision in a manifest
	MaxOutputBytes uint64        // stdout size
}

// MemoryBytes is the memory limit in bytes.
func (l Limits) MemoryBytes() uint64 { return uint64(l.MemoryPages) * PageSize }

// Validate checks everything that can be checked without the blobs and the signature, and
// says what to fix. Verify checks the signature.
func (m *Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("manifest: version %d: this node understands version %d only (upgrade allforone)", m.Version, ManifestVersion)
	}
	if err := checkLabel("swarm name", m.Swarm, true); err != nil {
		return err
	}
	if err := checkLabel("name", m.Name, false); err != nil {
		return err
	}
	if err := m.Module.check(); err != nil {
		return fmt.Errorf("manifest: module: %w", err)
	}
	if m.Module.Size == 0 {
		return fmt.Errorf("manifest: module is empty: name a WebAssembly module")
	}
	if err := m.validateInputs(); err != nil {
		return err
	}
	if err := m.validateProgramEnv(); err != nil {
		return err
	}
	if err := m.Limits.validate(); err != nil {
		return err
	}
	if err := m.validateReplication(); err != nil {
		return err
	}
	if m.CreatedAt.IsZero() || m.CreatedAt.UnixMilli() <= 0 {
		return fmt.Errorf("manifest: created-at is not set: set it to the submission time")
	}
	if !m.Deadline.After(m.CreatedAt) {
		return fmt.Errorf("manifest: deadline %s is not after created-at %s: give the batch time to run",
			m.Deadline.UTC().Format(time.RFC3339), m.CreatedAt.UTC().Format(time.RFC3339))
	}
	if n := len(m.Nonce); n < 8 || n > 32 {
		return fmt.Errorf("manifest: nonce is %d bytes: use 8 to 32 random bytes", n)
	}
	return nil
}

func checkLabel(what, s string, required bool) error {
	switch {
	case required && s == "":
		return fmt.Errorf("manifest: %s is empty: set it", what)
	case len(s) > maxNameLen:
		return fmt.Errorf("manifest: %s is %d bytes: shorten it to at most %d", what, len(s), maxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("manifest: %s is not valid UTF-8", what)
	}
	return nil
}

func (b BlobRef) check() error {
	if err := CheckContentID(b.CID); err != nil {
		return err
	}
	if b.Size > MaxBlobSize {
		return fmt.Errorf("blob %s size %d: over the %d byte limit", b.CID, b.Size, MaxBlobSize)
	}
	return nil
}

func (m *Manifest) validateInputs() error {
	if len(m.Inputs) == 0 {
		return fmt.Errorf("manifest: no inputs: add at least one input (a blob, an inline value or a range)")
	}
	var total int64
	for i, in := range m.Inputs {
		if err := in.validate(); err != nil {
			return fmt.Errorf("manifest: input %d: %w", i, err)
		}
		total = AddTasks(total, in.count())
	}
	if err := CheckTaskCount(total); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

func (in Input) validate() error {
	switch in.Kind {
	case InputBlob:
		return in.Blob.check()
	case InputInline:
		if len(in.Inline) > MaxInlineInput {
			return fmt.Errorf("inline value is %d bytes: at most %d, store larger inputs as blobs", len(in.Inline), MaxInlineInput)
		}
	case InputRange:
		return in.Range.Check()
	default:
		return fmt.Errorf("unknown kind %d: set exactly one of blob, inline and range", in.Kind)
	}
	return nil
}

func (m *Manifest) validateProgramEnv() error {
	for i, a := range m.Args {
		if a == "" || strings.ContainsRune(a, 0) {
			return fmt.Errorf("manifest: arg %d is empty or contains NUL: WASI arguments must be non-empty C strings", i)
		}
		if err := checkLabel(fmt.Sprintf("arg %d", i), a, false); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Env)) {
		v := m.Env[k]
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("manifest: env name %q: must be non-empty without '=' or NUL", k)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("manifest: env %s: value contains NUL", k)
		}
		if err := checkLabel("env "+k, k+"="+v, false); err != nil {
			return err
		}
	}
	return nil
}

func (l Limits) validate() error {
	if l.MemoryPages == 0 || l.MemoryPages > MaxMemoryPages {
		return fmt.Errorf("manifest: memory limit %d pages: must be 1 to %d pages of 64 KiB", l.MemoryPages, MaxMemoryPages)
	}
	if l.Timeout < time.Millisecond || l.Timeout > MaxTimeout {
		return fmt.Errorf("manifest: timeout %s: must be 1ms to %s", l.Timeout, MaxTimeout)
	}
	if l.Timeout%time.Millisecond != 0 {
		return fmt.Errorf("manifest: timeout %s: must be a whole number of milliseconds", l.Timeout)
	}
	if l.MaxOutputBytes == 0 || l.MaxOutputBytes > MaxOutputLimit {
		return fmt.Errorf("manifest: max output %d bytes: must be 1 to %d", l.MaxOutputBytes, MaxOutputLimit)
	}
	return nil
}

func (m *Manifest) validateReplication() error {
	if m.Redundancy < 1 || m.Redundancy > MaxRedundancy {
		return fmt.Errorf("manifest: redundancy R=%d: must be at least 1 and at most %d", m.Redundancy, MaxRedundancy)
	}
	if m.Replication < 1 || m.Replication > MaxReplication {
		return fmt.Errorf("manifest: replication K=%d: must be at least 1 and at most %d", m.Replication, MaxReplication)
	}
	if m.MaxReplicas < m.Redundancy || m.MaxReplicas > MaxRedundancy*2 {
		return fmt.Errorf("manifest: max replicas %d: must be at least R=%d and at most %d", m.MaxReplicas, m.Redundancy, MaxRedundancy*2)
	}
	if m.MinRedundancy > m.Redundancy {
		return fmt.Errorf("manifest: minimum redundancy %d is over R=%d: adaptive replication can only lower R", m.MinRedundancy, m.Redundancy)
	}
	if m.MinRedundancy > 0 && !m.AdaptiveReplication {
		return fmt.Errorf("manifest: a minimum redundancy without adaptive replication means nothing: enable adaptive replication or drop it")
	}
	return nil
}
