package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"allforone/node/internal/store"

	"github.com/ipfs/go-cid"
)

// maxOutputName bounds an output file name (a name rule plus the extension), in bytes:
// most file systems allow 255.
const maxOutputName = 255

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
