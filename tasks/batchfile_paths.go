package tasks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// pathRule resolves the paths a batch file names: relative to the batch file's folder, and
// only under its root. A batch file may come from someone else; without the rule it could
// name ~/.ssh/id_ed25519 or the node's identity key, and `submit` would carry a small file's
// bytes inline in a manifest the whole swarm receives.
type pathRule struct {
	base     string // the batch file's folder, absolute
	root     string // the folder every named file must lie under, absolute and clean
	rootReal string // root with symbolic links resolved
	named    bool   // root was given by the user (--inputs-root), not the batch file's folder
}

// newPathRule is the rule for a batch file in folder base: files under root, or under base
// when root is "".
func newPathRule(base, root string) (*pathRule, error) {
	absBase, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("batch file folder: %w", err)
	}
	r := &pathRule{base: absBase, root: absBase}
	if root != "" {
		if r.root, err = filepath.Abs(root); err != nil {
			return nil, fmt.Errorf("inputs root: %w", err)
		}
		r.named = true
		info, err := os.Stat(r.root)
		if err != nil {
			return nil, fmt.Errorf("inputs root %s: %w: name an existing folder", root, err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("inputs root %s is not a folder: name the folder that holds the batch's files", root)
		}
	}
	if r.rootReal, err = filepath.EvalSymlinks(r.root); err != nil {
		return nil, fmt.Errorf("batch file folder: %w", err)
	}
	return r, nil
}

// resolve returns the path that p (as the batch file wrote it) names, or an error saying
// why it is outside the root and what to do. What names the path in the error ("module",
// "input", ...). The real location decides: a path whose symbolic links lead outside the
// root is outside; a path that does not exist (yet) is judged by its name, and reading it
// later says that it is missing.
func (r *pathRule) resolve(what, p string) (string, error) {
	full := p
	if !filepath.IsAbs(full) {
		full = filepath.Join(r.base, full)
	}
	full = filepath.Clean(full)
	if real, err := filepath.EvalSymlinks(full); err == nil {
		if within(r.rootReal, real) {
			return full, nil
		}
		if within(r.root, full) { // inside by name, outside through a link
			return "", fmt.Errorf("%s %q leads through a symbolic link to %s, outside %s: %s", what, p, real, r.where(), r.fix())
		}
		return "", fmt.Errorf("%s %q is %s, outside %s: %s", what, p, full, r.where(), r.fix())
	}
	if !within(r.root, full) {
		return "", fmt.Errorf("%s %q is %s, outside %s: %s", what, p, full, r.where(), r.fix())
	}
	return full, nil
}

func (r *pathRule) where() string {
	if r.named {
		return "the inputs root " + r.root
	}
	return "the batch file's folder " + r.root
}

func (r *pathRule) fix() string {
	return "a batch file may only name files under that folder; move the file there, or allow a folder that holds it with --inputs-root DIR"
}

// within reports whether path p is root or lies under it (both absolute and clean).
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil || filepath.IsAbs(rel) {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
