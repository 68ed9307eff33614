// Package service installs allforone as a per-user background service that runs
// `allforone daemon` on the user's data dir from login on, and restarts it when it fails:
// a systemd user unit on Linux, a launchd agent on macOS, a scheduled task at logon on
// Windows.
//
// Each platform turns a Spec into a Plan: the files to write or remove and the commands
// to run, in order. Plans are plain values, so `--dry-run` prints them and tests check
// them on any platform; Apply carries one out with an injected Runner.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultName is the service's name when the user gives none.
const DefaultName = "allforone"

// LogFileName is the file in the data dir where launchd and the Windows supervisor write
// the daemon's output (systemd sends it to the journal).
const LogFileName = "daemon.log"

// Spec is what a service runs and where it puts its files. Paths are absolute.
type Spec struct {
	Name       string // service name: the systemd unit, the launchd label's end, the task
	Executable string // the allforone binary
	DataDir    string // the node's data dir, passed as --data
	Home       string // the user's home dir (launchd agents live under it)
	ConfigHome string // Linux: $XDG_CONFIG_HOME, or Home/.config when empty
	User       string // Windows: DOMAIN\user whose logon starts the task
	UID        int    // macOS: the user ID, for the gui/<uid> launchd domain
}

// LogFile is where the daemon's output goes on macOS and Windows.
func (s Spec) LogFile() string { return joinPath(s.DataDir, LogFileName) }

// joinPath joins a file name to a directory with the directory's own separator, so that a
// plan for Windows made on Linux (a dry run, a test) has Windows paths, and the other way
// round.
func joinPath(dir, name string) string {
	if strings.Contains(dir, `\`) && !strings.Contains(dir, "/") {
		return strings.TrimRight(dir, `\`) + `\` + name
	}
	return strings.TrimRight(dir, "/") + "/" + name
}

// Validate checks that s names a service and absolute paths.
func (s Spec) Validate() error {
	var errs []error
	if !validName(s.Name) {
		errs = append(errs, fmt.Errorf("service name %q is not valid: use letters, digits, '.', '_' or '-'", s.Name))
	}
	for what, p := range map[string]string{"binary": s.Executable, "data dir": s.DataDir, "home dir": s.Home} {
		if !IsAbs(p) {
			errs = append(errs, fmt.Errorf("%s path %q is not absolute", what, p))
		}
	}
	return errors.Join(errs...)
}

func validName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// IsAbs reports whether p is absolute on Unix or on Windows, so that plans for every
// platform can be made (and tested) on any platform.
func IsAbs(p string) bool {
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}

// daemonArgs are the arguments after the binary: the data dir, then the daemon command.
func (s Spec) daemonArgs() []string { return []string{"--data", s.DataDir, "daemon"} }

// File is a file a plan writes.
type File struct {
	Path    string      `json:"path"`
	Text    string      `json:"content"` // for people: the content as text
	Content []byte      `json:"-"`       // as written to disk (UTF-16 for Windows task XML)
	Mode    os.FileMode `json:"mode"`
}

// Step is one action of a plan: exactly one of Write, Remove and Command is set.
type Step struct {
	Write   *File    `json:"write,omitempty"`
	Remove  string   `json:"remove,omitempty"`  // a file to delete; a missing one is fine
	Command []string `json:"command,omitempty"` // a program and its arguments
	MayFail bool     `json:"may_fail,omitempty"`
}

// Plan is what install or uninstall does on one platform.
type Plan struct {
	Platform string   `json:"platform"` // systemd, launchd or schtasks
	File     string   `json:"file"`     // the service definition file
	Steps    []Step   `json:"steps"`
	Notes    []string `json:"notes,omitempty"` // for the user, after the steps
}

// write adds a file; text is its content for people, when content is not UTF-8.
func (p *Plan) write(path string, content []byte, text string) {
	if text == "" {
		text = string(content)
	}
	p.Steps = append(p.Steps, Step{Write: &File{Path: path, Content: content, Text: text, Mode: 0o644}})
}
func (p *Plan) run(args ...string)    { p.Steps = append(p.Steps, Step{Command: args}) }
func (p *Plan) tryRun(args ...string) { p.Steps = append(p.Steps, Step{Command: args, MayFail: true}) }
func (p *Plan) remove(path string)    { p.Steps = append(p.Steps, Step{Remove: path}) }
func (p *Plan) note(format string, a ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, a...))
}

// Runner runs a program and returns its combined output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs programs with os/exec.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// Apply carries out the plan's steps in order, and stops at the first failure.
func Apply(ctx context.Context, p Plan, run Runner) error {
	for _, s := range p.Steps {
		switch {
		case s.Write != nil:
			if err := os.MkdirAll(filepath.Dir(s.Write.Path), 0o755); err != nil {
				return fmt.Errorf("create %s: %w", filepath.Dir(s.Write.Path), err)
			}
			if err := os.WriteFile(s.Write.Path, s.Write.Content, s.Write.Mode); err != nil {
				return fmt.Errorf("write %s: %w", s.Write.Path, err)
			}
		case s.Remove != "":
			if err := os.Remove(s.Remove); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", s.Remove, err)
			}
		case len(s.Command) > 0:
			out, err := run(ctx, s.Command[0], s.Command[1:]...)
			if err != nil && !s.MayFail {
				return fmt.Errorf("%s: %w: %s", strings.Join(s.Command, " "), err, strings.TrimSpace(string(out)))
			}
		}
	}
	return nil
}

// Describe prints the plan for people: every file with its content, every command.
func Describe(w io.Writer, p Plan) {
	for _, s := range p.Steps {
		switch {
		case s.Write != nil:
			fmt.Fprintf(w, "write %s:\n", s.Write.Path)
			for _, line := range strings.Split(strings.TrimRight(s.Write.Text, "\r\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", strings.TrimRight(line, "\r"))
			}
		case s.Remove != "":
			fmt.Fprintf(w, "remove %s\n", s.Remove)
		case len(s.Command) > 0:
			suffix := ""
			if s.MayFail {
				suffix = "    (may fail)"
			}
			fmt.Fprintf(w, "run %s%s\n", strings.Join(s.Command, " "), suffix)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// Platform makes plans for one service manager.
type Platform interface {
	// Name is systemd, launchd or schtasks.
	Name() string
	// File is the path of the service definition.
	File(s Spec) string
	// Install writes the definition, then enables and starts the service.
	Install(s Spec) Plan
	// Uninstall stops and disables the service, then removes the definition.
	Uninstall(s Spec) Plan
	// Status asks the service manager about an installed service.
	Status(ctx context.Context, s Spec, run Runner) (state, detail string)
}

// ErrUnsupported means there is no service manager support for the platform.
var ErrUnsupported = errors.New("no service support on this platform")

// For returns the platform of goos (a GOOS value): linux, darwin or windows.
func For(goos string) (Platform, error) {
	switch goos {
	case "linux":
		return systemd{}, nil
	case "darwin":
		return launchd{}, nil
	case "windows":
		return schtasks{}, nil
	}
	return nil, fmt.Errorf("%w (%s): run `allforone daemon` from your init system instead; Linux, macOS and Windows are supported", ErrUnsupported, goos)
}

// Status is what `service status` reports.
type Status struct {
	Platform  string `json:"platform"`
	Name      string `json:"name"`
	File      string `json:"file"`
	Installed bool   `json:"installed"`
	State     string `json:"state"`            // the manager's word: active, running, Ready, ...; "not installed"
	Detail    string `json:"detail,omitempty"` // more of what the manager said
}

// Inspect reports whether the service is installed and, if it is, what its manager says.
// It runs only read-only commands, and none when the service is not installed.
func Inspect(ctx context.Context, p Platform, s Spec, run Runner) Status {
	st := Status{Platform: p.Name(), Name: s.Name, File: p.File(s), State: "not installed"}
	if _, err := os.Stat(st.File); err != nil {
		return st
	}
	st.Installed = true
	st.State, st.Detail = p.Status(ctx, s, run)
	return st
}
