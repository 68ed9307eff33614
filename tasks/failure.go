package tasks

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"allforone/protocol"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Failure kinds: how a task failed, for people, scripts and the failure quorum. One set of
// labels for local runs and for the `error` field of result records (protocol/README.md
// section 7).
const (
	KindTimeout  = "timeout" // ran past its time limit (depends on the machine)
	KindMemory   = "memory"  // needed more memory than its limit
	KindOutput   = "output"  // wrote more than its output limit
	KindTrap     = "trap"    // a WebAssembly trap
	KindExit     = "exit"    // a non-zero exit code
	KindInvalid  = "invalid" // the module does not load (not WebAssembly, bad imports, no _start)
	KindCompile  = "compile" // compiling the module went over the node's compile budget
	KindCrash    = "crash"   // the task's runner process died (killed, out of memory)
	KindError    = "error"   // anything else
	KindInput    = "input"   // local runs: the input could not be read
	KindWrite    = "write"   // local runs: the output could not be written
	KindCanceled = "canceled"
)

// Bounds on what a failure note carries beyond its signed record: enough for the line that
// explains a failure, small enough that a batch of failing tasks keeps a small state.
const (
	MaxFailureDetail = protocol.MaxFailureDetail // bytes of FailureNote.Detail
	MaxFailureStderr = protocol.MaxFailureStderr // bytes of FailureNote.Stderr: the tail of what the task wrote to stderr
)

// FailureKind names the kind of a task error: one of the Kind constants.
func FailureKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{ErrInvalidModule, KindInvalid}, {ErrTimeout, KindTimeout}, {ErrMemoryLimit, KindMemory},
		{ErrOutputTooLarge, KindOutput}, {ErrTrap, KindTrap}, {ErrExitCode, KindExit},
		{ErrCompileBudget, KindCompile}, {ErrCrashed, KindCrash},
		{errInput, KindInput}, {errWrite, KindWrite}, {context.Canceled, KindCanceled}, {ErrClosed, KindCanceled},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return KindError
}

// RecordError is what a result record says about a failed execution: its kind, and for a
// non-zero exit "exit:N" with the exit code N, so the failure quorum tells exit codes apart.
func RecordError(err error) string {
	kind := FailureKind(err)
	var te *TaskError
	if kind == KindExit && errors.As(err, &te) {
		return KindExit + ":" + strconv.FormatUint(uint64(te.ExitCode), 10)
	}
	return kind
}

// ParseRecordError splits a record's error into its kind and, for "exit:N", the exit code.
// Older peers write "exit" without a code.
func ParseRecordError(s string) (kind string, exitCode uint32, hasCode bool) {
	kind, detail, found := strings.Cut(s, ":")
	if found && kind == KindExit {
		if c, err := strconv.ParseUint(detail, 10, 32); err == nil && c != 0 {
			return kind, uint32(c), true
		}
	}
	return kind, 0, false
}

// Deterministic reports whether a record's error names a failure that every honest executor
// of the task reproduces: a trap, a known non-zero exit code, the memory or output limit, an
// invalid module. Timeouts depend on the machine and "error" on anything, so they do not;
// neither does "exit" without its code (older peers), which cannot be told apart.
func Deterministic(recordError string) bool {
	kind, _, hasCode := ParseRecordError(recordError)
	switch kind {
	case KindTrap, KindMemory, KindOutput, KindInvalid:
		return recordError == kind
	case KindExit:
		return hasCode
	}
	return false
}

// FailureNote is what an executor tells about one failed execution besides its signed
// record: what happened in words and the tail of the task's stderr. It is informational
// (not signed, never a vote) and bounded by MaxFailureDetail and MaxFailureStderr.
type FailureNote struct {
	Executor peer.ID
	Detail   string
	Stderr   string
}

// NoteOf is the note of a failed run: err's description and the last MaxFailureStderr bytes
// of stderr, both valid UTF-8.
func NoteOf(err error, stderr []byte) FailureNote {
	detail := err.Error()
	var te *TaskError
	if errors.As(err, &te) {
		detail = te.Detail
		if len(stderr) == 0 {
			stderr = te.Stderr
		}
	}
	return FailureNote{Detail: clip(detail, MaxFailureDetail, false), Stderr: clip(string(stderr), MaxFailureStderr, true)}
}

// Bounded returns the note cut to its bounds (a note from the network may be longer).
func (n FailureNote) Bounded() FailureNote {
	n.Detail, n.Stderr = clip(n.Detail, MaxFailureDetail, false), clip(n.Stderr, MaxFailureStderr, true)
	return n
}

// clip keeps at most max bytes of s, its head or (tail) its end, as valid UTF-8.
func clip(s string, max int, tail bool) string {
	if len(s) > max {
		if tail {
			s = s[len(s)-max:]
		} else {
			s = s[:max]
		}
	}
	return strings.ToValidUTF8(s, "") // a cut through a character drops its bytes
}
