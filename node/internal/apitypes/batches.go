package apitypes

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"allforone/tasks"
	"allforone/tasks/steward"
)

// SubmitRequest is a batch to submit, as the API takes it (POST /api/v1/batches). The
// module and large inputs either travel in the JSON (base64, for small batches: the body is
// limited to MaxSubmitJSON) or are uploaded first with POST /api/v1/blobs and named here by
// content ID, which is what the CLI does.
type SubmitRequest struct {
	Name string `json:"name"`
	// Module is the WebAssembly module (base64 in JSON); ModuleBlob instead names a blob
	// this node holds (uploaded with POST /api/v1/blobs). Exactly one is set.
	Module         []byte            `json:"module,omitempty"`
	ModuleBlob     string            `json:"module_blob,omitempty"`
	Inputs         []SubmitInput     `json:"inputs"`
	Args           []string          `json:"args,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	MemoryPages    uint32            `json:"memory_pages"`
	TimeoutMS      uint64            `json:"timeout_ms"`
	MaxOutputBytes uint64            `json:"max_output_bytes"`
	Redundancy     uint32            `json:"redundancy"`   // R
	Replication    uint32            `json:"replication"`  // K
	MaxReplicas    uint32            `json:"max_replicas"` // 0: R + 2
	Adaptive       bool              `json:"adaptive,omitempty"`
	MinRedundancy  uint32            `json:"min_redundancy,omitempty"` // with Adaptive: R of a trusted peer's task (0: 1)
	DeadlineSec    uint64            `json:"deadline_seconds"`         // 0: 24 hours
	// OutputExt is appended to every output file name (see SubmitInput.Name).
	OutputExt string `json:"output_ext,omitempty"`
}

// SubmitInput is one entry of a batch's input list: one task's bytes, one task whose input
// is an uploaded blob, or a range of generated tasks. At most one of Data, Blob and Range is
// set (none: one task with an empty input).
type SubmitInput struct {
	// Name names the output file when results are written to a folder: the task's name,
	// or for a range the part before each task's decimal value. Default: the input's
	// index in six digits, and for a range the value alone.
	Name  string       `json:"name,omitempty"`
	Data  []byte       `json:"data,omitempty"` // inline when at most 1 KiB, else stored as a blob
	Blob  string       `json:"blob,omitempty"` // content ID of a blob this node holds
	Range *tasks.Range `json:"range,omitempty"`
}

// SubmitResult answers a submission.
type SubmitResult struct {
	BatchID  string   `json:"batch_id"`
	Tasks    int      `json:"tasks"`
	Stewards []string `json:"stewards"`
	// Waiting, when not empty, says why the batch cannot progress with the peers this node
	// sees now (too few for its R). It is accepted all the same: peers may still join.
	Waiting []steward.WaitReason `json:"waiting,omitempty"`
}

// BatchStatus is a batch's progress as the API and `allforone status` show it.
type BatchStatus struct {
	BatchID     string       `json:"batch_id"`
	Name        string       `json:"name"`
	State       string       `json:"state"` // running, complete or failed
	Total       int          `json:"total"`
	Done        int          `json:"done"`
	Failed      int          `json:"failed"`
	Running     int          `json:"running"`
	Executions  int          `json:"executions"`
	Reassigned  int          `json:"reassigned"`
	Single      int          `json:"single"`       // tasks run by one trusted peer (adaptive replication)
	MinReplicas int          `json:"min_replicas"` // fewest live holders of an accepted result
	Replication int          `json:"replication"`  // K
	Redundancy  int          `json:"redundancy"`   // R
	Peers       []PeerStatus `json:"peers"`
	FailedTasks []int        `json:"failed_tasks,omitempty"`
	// Failures says why each failed task failed, lowest index first, at most 1,000;
	// FailuresOmitted counts the failed tasks left out.
	Failures        []TaskFailure `json:"failures,omitempty"`
	FailuresOmitted int           `json:"failures_omitted,omitempty"`
	// Waiting, when not empty, says why the batch cannot progress with the peers its
	// steward sees, and what to change.
	Waiting []steward.WaitReason `json:"waiting,omitempty"`
	Steward string               `json:"steward"`
	// Refused says why the node asked refuses to run the batch's tasks (its module is over
	// the compile budget); empty if it runs them.
	Refused string `json:"refused,omitempty"`
}

// TaskFailure is why one task of a batch failed: the failure most of its executions
// reported, and what one of their executors said about it.
type TaskFailure struct {
	Task int    `json:"task"`
	Name string `json:"name,omitempty"` // the task's output name, on the submitter's node
	// Kind is a failure kind (timeout, memory, output, trap, exit, invalid, error), or
	// no-quorum when every execution succeeded but their outputs disagreed.
	Kind       string  `json:"kind"`
	ExitCode   *uint32 `json:"exit_code,omitempty"` // with kind exit
	Detail     string  `json:"detail,omitempty"`    // what happened, as the executor said
	Stderr     string  `json:"stderr,omitempty"`    // the tail of what the task wrote to stderr
	Executions int     `json:"executions"`          // executions of the task
	Agreeing   int     `json:"agreeing"`            // executions that failed this way
}

// KindNoQuorum is a failed task's kind when its executions succeeded but disagreed.
const KindNoQuorum = "no-quorum"

// Error is the failure in one line: its kind, what happened and the stderr's last line.
func (f TaskFailure) Error() string {
	s := f.Kind
	if f.ExitCode != nil {
		s = fmt.Sprintf("exit code %d", *f.ExitCode)
	}
	if f.Kind == KindNoQuorum {
		s = fmt.Sprintf("no quorum: %d executions disagreed", f.Executions)
	}
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	if line := lastLine(f.Stderr); line != "" && !strings.Contains(f.Detail, line) {
		s += " (stderr: " + line + ")"
	}
	return s
}

// lastLine is the last non-empty line of s, at most 200 bytes.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 200 {
		l = l[:200] + "..."
	}
	return strings.ToValidUTF8(l, "")
}

// PeerStatus is one peer's share of a batch.
type PeerStatus struct {
	PeerID  string `json:"peer_id"`
	Done    int    `json:"done"`
	Running int    `json:"running"`
	Wrong   int    `json:"wrong,omitempty"`
}

// BatchInfo is one line of `allforone batches`.
type BatchInfo struct {
	BatchID   string `json:"batch_id"`
	Name      string `json:"name"`
	Tasks     int    `json:"tasks"`
	Submitter string `json:"submitter"`
	Created   string `json:"created"`
	Steward   bool   `json:"steward"`      // this node keeps its state
	Held      int    `json:"held_results"` // results this node holds
}

// FetchReport says how a fetch of a batch's results went.
type FetchReport struct {
	BatchID string `json:"batch_id"`
	Total   int    `json:"total"`
	Have    int    `json:"have"`    // results now stored on this node
	Missing []int  `json:"missing"` // tasks with no result found (not accepted yet, failed, or lost)
}

// OutputNames is how the submitter named a batch's output files, as a rule rather than a
// list: one entry per manifest input, so a range of a million tasks costs one entry. The
// submitting node keeps it (GET /api/v1/batches/{id}/names); other nodes name outputs by
// task index.
type OutputNames struct {
	Inputs []OutputName `json:"inputs"`
	Ext    string       `json:"ext,omitempty"` // appended to every name
}

// OutputName names the outputs of one manifest input. A blob or inline input's one task is
// called Name; the task of a range for integer v is called Name followed by v in decimal.
type OutputName struct {
	Name  string `json:"name"`
	Tasks int64  `json:"tasks"` // tasks of this input: 1, or the range's size
	Range bool   `json:"range,omitempty"`
	Start int64  `json:"start,omitempty"` // a range's first integer
}

// Name is the output file name of task i, or "" when the rule does not say (past the end).
// It indexes the rule on every call: to name many tasks, use Namer.
func (o OutputNames) Name(i int) string { return o.Namer()(i) }

// Namer returns a function that names task i like Name. It indexes the rule once; each
// name then costs a binary search over the inputs.
func (o OutputNames) Namer() func(i int) string {
	starts := make([]int64, len(o.Inputs))
	var total int64
	for k, in := range o.Inputs {
		starts[k] = total
		total = tasks.AddTasks(total, max(in.Tasks, 0))
	}
	return func(i int) string {
		if i < 0 || int64(i) >= total {
			return ""
		}
		k := sort.Search(len(starts), func(k int) bool { return starts[k] > int64(i) }) - 1
		in := o.Inputs[k]
		if !in.Range {
			return in.Name + o.Ext
		}
		return in.Name + strconv.FormatInt(in.Start+int64(i)-starts[k], 10) + o.Ext
	}
}
