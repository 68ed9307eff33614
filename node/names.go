package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"allforone/node/internal/store"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
)

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

// maxOutputName bounds an output file name (a name rule plus the extension), in bytes:
// most file systems allow 255.
const maxOutputName = 255

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

// checkOutputName refuses a name rule that cannot be a file name.
func checkOutputName(what, name, ext string, digits int) error {
	switch {
	case strings.ContainsAny(name+ext, "/\\\x00"):
		return fmt.Errorf("%s %q: an output name must not contain a path separator or NUL", what, name+ext)
	case len(name)+len(ext)+digits > maxOutputName:
		return fmt.Errorf("%s %q: output names are at most %d bytes with the extension", what, name+ext, maxOutputName)
	}
	return nil
}

// saveNames remembers the submitter's output names, used to name output files.
func (n *Node) saveNames(ctx context.Context, id cid.Cid, names OutputNames) error {
	b, err := json.Marshal(names)
	if err != nil {
		return err
	}
	return n.ds.Put(ctx, store.NamesKey(id), b)
}

// OutputNames returns the names the submitter gave the batch's outputs, if this node
// submitted it (ok false otherwise: other nodes name outputs by task index). Names kept by
// an older version, a list with one name per task, read as a rule of one entry each.
func (n *Node) OutputNames(ctx context.Context, id cid.Cid) (OutputNames, bool) {
	raw, err := n.ds.Get(ctx, store.NamesKey(id))
	if err != nil {
		return OutputNames{}, false
	}
	var rule OutputNames
	if json.Unmarshal(raw, &rule) == nil {
		return rule, true
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return OutputNames{}, false
	}
	rule.Inputs = make([]OutputName, len(list))
	for i, name := range list {
		rule.Inputs[i] = OutputName{Name: name, Tasks: 1}
	}
	return rule, true
}
