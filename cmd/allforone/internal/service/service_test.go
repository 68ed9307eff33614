package service

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// unixSpec and windowsSpec are the specs of the golden files.
var (
	unixSpec = Spec{
		Name:       "allforone",
		Executable: "/usr/local/bin/allforone",
		DataDir:    "/home/vol/.allforone",
		Home:       "/home/vol",
		User:       "vol",
		UID:        501,
	}
	windowsSpec = Spec{
		Name:       "allforone",
		Executable: `C:\Program Files\allforone\allforone.exe`,
		DataDir:    `C:\Users\vol\.allforone`,
		Home:       `C:\Users\vol`,
		User:       `DESKTOP-1\vol`,
	}
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestSystemdUnitGolden(t *testing.T) {
	golden(t, "allforone.service", systemd{}.Unit(unixSpec))
}

func TestLaunchdPlistGolden(t *testing.T) {
	plist := launchd{}.Plist(unixSpec)
	golden(t, "org.allforone.allforone.plist", plist)
	// A property list is XML whose top dict alternates keys and values.
	var doc struct {
		XMLName xml.Name `xml:"plist"`
		Dict    struct {
			Keys    []string `xml:"key"`
			Strings []string `xml:"string"`
			Args    []string `xml:"array>string"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal([]byte(plist), &doc); err != nil {
		t.Fatalf("plist is not XML: %v", err)
	}
	for _, k := range []string{"Label", "ProgramArguments", "RunAtLoad", "KeepAlive", "StandardErrorPath"} {
		if !slices.Contains(doc.Dict.Keys, k) {
			t.Errorf("plist has no %s key (keys %v)", k, doc.Dict.Keys)
		}
	}
	if want := []string{"/usr/local/bin/allforone", "--data", "/home/vol/.allforone", "daemon"}; !slices.Equal(doc.Dict.Args, want) {
		t.Errorf("ProgramArguments = %q, want %q", doc.Dict.Args, want)
	}
}

func TestWindowsTaskGolden(t *testing.T) {
	d := schtasks{}
	text := d.TaskXML(windowsSpec)
	golden(t, "allforone-task.xml", strings.ReplaceAll(text, "\r\n", "\n"))
	if strings.Count(text, "\r\n") != strings.Count(text, "\n") {
		t.Errorf("task XML has bare LF line ends")
	}
	// The XML declaration says UTF-16: Go's decoder wants to be told that it is fine.
	dec := xml.NewDecoder(strings.NewReader(text))
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var task struct {
		Command   string `xml:"Actions>Exec>Command"`
		Arguments string `xml:"Actions>Exec>Arguments"`
		User      string `xml:"Triggers>LogonTrigger>UserId"`
		Limit     string `xml:"Settings>ExecutionTimeLimit"`
	}
	if err := dec.Decode(&task); err != nil {
		t.Fatalf("task XML does not parse: %v", err)
	}
	if task.Command != windowsSpec.Executable || task.User != windowsSpec.User || task.Limit != "PT0S" {
		t.Errorf("task = %+v", task)
	}
	if want := `--data C:\Users\vol\.allforone service run --name allforone`; task.Arguments != want {
		t.Errorf("arguments = %q, want %q", task.Arguments, want)
	}

	// On disk it is UTF-16LE with a byte order mark, as Task Scheduler exports it.
	p := d.Install(windowsSpec)
	f := p.Steps[0].Write
	if f == nil || f.Path != `C:\Users\vol\.allforone\allforone-task.xml` {
		t.Fatalf("first step = %+v, want the task file in the data dir", p.Steps[0])
	}
	if !bytes.HasPrefix(f.Content, []byte{0xFF, 0xFE}) || len(f.Content)%2 != 0 {
		t.Fatalf("task file does not start with a UTF-16LE BOM: % x", f.Content[:4])
	}
	u := make([]uint16, 0, len(f.Content)/2-1)
	for i := 2; i < len(f.Content); i += 2 {
		u = append(u, uint16(f.Content[i])|uint16(f.Content[i+1])<<8)
	}
	if got := string(utf16.Decode(u)); got != text || f.Text != text {
		t.Errorf("task file does not decode to the task XML")
	}
}

// systemd itself checks the unit when systemd-analyze is installed.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit is checked against the golden file only")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin dir", "allforone")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := unixSpec
	s.Executable = bin
	s.DataDir = filepath.Join(dir, "data 100% $HOME")
	unit := filepath.Join(dir, s.Name+".service")
	if err := os.WriteFile(unit, []byte(systemd{}.Unit(s)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	// verify also complains about the host's own units when it cannot reach a running
	// systemd (a container); only lines about our unit count.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, s.Name+".service") {
			ours = append(ours, line)
		}
	}
	if len(ours) > 0 {
		t.Fatalf("systemd-analyze verify on the unit: %v\n%s", err, strings.Join(ours, "\n"))
	}
	t.Logf("systemd-analyze verify: %v %s", err, out)
}

func TestSystemdArgQuoting(t *testing.T) {
	cases := map[string]string{
		"/usr/bin/allforone":      "/usr/bin/allforone",
		"/home/a b/.allforone":    `"/home/a b/.allforone"`,
		"50%":                     "50%%",
		"$HOME":                   "$$HOME",
		`say "hi"`:                `"say \"hi\""`,
		`C:\x`:                    `"C:\\x"`,
		";":                       `";"`,
		"":                        `""`,
		"/data/100% of $USER's x": `"/data/100%% of $$USER's x"`,
	}
	for in, want := range cases {
		if got := systemdArg(in); got != want {
			t.Errorf("systemdArg(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestWindowsArgQuoting(t *testing.T) {
	cases := map[string]string{
		`C:\Users\vol\.allforone`:  `C:\Users\vol\.allforone`,
		`C:\Program Files\a`:       `"C:\Program Files\a"`,
		`C:\Program Files\a\`:      `"C:\Program Files\a\\"`,
		`say "hi"`:                 `"say \"hi\""`,
		`a\"b`:                     `"a\\\"b"`,
		"":                         `""`,
		`C:\Users\Jo Smith\.data\`: `"C:\Users\Jo Smith\.data\\"`,
	}
	for in, want := range cases {
		if got := windowsArg(in); got != want {
			t.Errorf("windowsArg(%q) = %s, want %s", in, got, want)
		}
	}
}

// fakeRunner records commands and fails the ones named in fail.
type fakeRunner struct {
	ran  [][]string
	fail map[string]bool   // by program and first argument, e.g. "systemctl --user"
	out  map[string]string // output by the whole command line
}

func (f *fakeRunner) run(_ context.Context, name string, args ...string) ([]byte, error) {
	cmd := append([]string{name}, args...)
	f.ran = append(f.ran, cmd)
	line := strings.Join(cmd, " ")
	for prefix := range f.fail {
		if strings.HasPrefix(line, prefix) {
			return []byte("it broke"), errors.New("exit status 1")
		}
	}
	return []byte(f.out[line]), nil
}

func commandLines(cmds [][]string) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, strings.Join(c, " "))
	}
	return out
}

func TestApplyInstallAndUninstallWithSystemd(t *testing.T) {
	home := t.TempDir()
	s := unixSpec
	s.Home = home
	d := systemd{}
	run := &fakeRunner{}
	if err := Apply(t.Context(), d.Install(s), run.run); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(home, ".config", "systemd", "user", "allforone.service")
	b, err := os.ReadFile(unit)
	if err != nil || string(b) != d.Unit(s) {
		t.Fatalf("unit file %s: %v", unit, err)
	}
	want := []string{"systemctl --user daemon-reload", "systemctl --user enable allforone.service", "systemctl --user restart allforone.service"}
	if got := commandLines(run.ran); !slices.Equal(got, want) {
		t.Fatalf("install ran %q, want %q", got, want)
	}

	// Status asks systemd only about an installed unit.
	run = &fakeRunner{out: map[string]string{"systemctl --user is-active allforone.service": "active\n"}}
	if st := Inspect(t.Context(), d, s, run.run); !st.Installed || st.State != "active" || st.File != unit {
		t.Fatalf("status = %+v", st)
	}

	// Disabling a unit that systemd no longer knows may fail; the file goes anyway.
	run = &fakeRunner{fail: map[string]bool{"systemctl --user disable": true}}
	if err := Apply(t.Context(), d.Uninstall(s), run.run); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(unit); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unit file still there after uninstall: %v", err)
	}
	run = &fakeRunner{}
	if st := Inspect(t.Context(), d, s, run.run); st.Installed || st.State != "not installed" || len(run.ran) != 0 {
		t.Fatalf("status after uninstall = %+v, ran %q", st, run.ran)
	}

	// A command that must work stops the plan with its output.
	run = &fakeRunner{fail: map[string]bool{"systemctl --user daemon-reload": true}}
	err = Apply(t.Context(), d.Install(s), run.run)
	if err == nil || !strings.Contains(err.Error(), "daemon-reload") || !strings.Contains(err.Error(), "it broke") || len(run.ran) != 1 {
		t.Fatalf("install with a failing daemon-reload = %v, ran %q", err, run.ran)
	}
}

func TestXDGConfigHome(t *testing.T) {
	s := unixSpec
	s.ConfigHome = "/srv/conf"
	if got := (systemd{}).File(s); got != "/srv/conf/systemd/user/allforone.service" {
		t.Fatalf("unit path = %s", got)
	}
}

func TestPlansForEveryPlatform(t *testing.T) {
	cases := []struct {
		goos             string
		spec             Spec
		file             string
		install, uninstl []string
	}{
		{"linux", unixSpec, "/home/vol/.config/systemd/user/allforone.service",
			[]string{"systemctl --user daemon-reload", "systemctl --user enable allforone.service", "systemctl --user restart allforone.service"},
			[]string{"systemctl --user disable --now allforone.service", "systemctl --user daemon-reload"}},
		{"darwin", unixSpec, "/home/vol/Library/LaunchAgents/org.allforone.allforone.plist",
			[]string{"launchctl bootout gui/501/org.allforone.allforone", "launchctl enable gui/501/org.allforone.allforone",
				"launchctl bootstrap gui/501 /home/vol/Library/LaunchAgents/org.allforone.allforone.plist"},
			[]string{"launchctl bootout gui/501/org.allforone.allforone"}},
		{"windows", windowsSpec, `C:\Users\vol\.allforone\allforone-task.xml`,
			[]string{`schtasks /Create /TN allforone /XML C:\Users\vol\.allforone\allforone-task.xml /F`, "schtasks /End /TN allforone", "schtasks /Run /TN allforone"},
			[]string{"schtasks /End /TN allforone", "schtasks /Delete /TN allforone /F"}},
	}
	for _, c := range cases {
		t.Run(c.goos, func(t *testing.T) {
			p, err := For(c.goos)
			if err != nil {
				t.Fatal(err)
			}
			in, un := p.Install(c.spec), p.Uninstall(c.spec)
			if in.File != c.file || un.File != c.file || p.File(c.spec) != c.file {
				t.Errorf("files %s, %s; want %s", in.File, un.File, c.file)
			}
			var cmds [][]string
			for _, s := range in.Steps {
				if s.Command != nil {
					cmds = append(cmds, s.Command)
				}
			}
			if got := commandLines(cmds); !slices.Equal(got, c.install) {
				t.Errorf("install runs %q, want %q", got, c.install)
			}
			if in.Steps[0].Write == nil || in.Steps[0].Write.Path != c.file {
				t.Errorf("install does not write the definition first: %+v", in.Steps[0])
			}
			cmds = nil
			removes := false
			for _, s := range un.Steps {
				if s.Command != nil {
					cmds = append(cmds, s.Command)
				}
				removes = removes || s.Remove == c.file
			}
			if got := commandLines(cmds); !slices.Equal(got, c.uninstl) || !removes {
				t.Errorf("uninstall runs %q (removes the file: %v), want %q", got, removes, c.uninstl)
			}
			var out bytes.Buffer
			Describe(&out, in)
			if !strings.Contains(out.String(), "write "+c.file+":\n") || !strings.Contains(out.String(), "run "+c.install[len(c.install)-1]) {
				t.Errorf("Describe:\n%s", out.String())
			}
		})
	}
	if _, err := For("plan9"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("For(plan9) = %v, want ErrUnsupported", err)
	}
}

func TestParseManagerOutput(t *testing.T) {
	launchctl := `gui/501/org.allforone.allforone = {
	active count = 1
	path = /Users/vol/Library/LaunchAgents/org.allforone.allforone.plist
	state = running

	program = /usr/local/bin/allforone
	runs = 3
	pid = 4242
	last exit code = 1
	endpoints = {
		state = active
	}
}`
	if state, detail := parseLaunchctlPrint(launchctl); state != "running" || detail != "runs 3, pid 4242, last exit code 1" {
		t.Errorf("launchctl print: %q, %q", state, detail)
	}
	schtasksOut := "\r\nFolder: \\\r\nHostName:                             DESKTOP-1\r\nTaskName:                             \\allforone\r\n" +
		"Next Run Time:                        N/A\r\nStatus:                               Running\r\nLogon Mode:                           Interactive only\r\n" +
		"Last Run Time:                        3/4/2026 9:15:02 AM\r\nLast Result:                          267009\r\n"
	if state, detail := parseSchtasksList(schtasksOut); state != "Running" || detail != "last run time 3/4/2026 9:15:02 AM, last result 267009" {
		t.Errorf("schtasks: %q, %q", state, detail)
	}
}

func TestSpecValidate(t *testing.T) {
	if err := unixSpec.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := windowsSpec.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := unixSpec
	bad.Name = "all for one"
	bad.DataDir = "relative"
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "service name") || !strings.Contains(err.Error(), "not absolute") {
		t.Fatalf("Validate = %v", err)
	}
}
