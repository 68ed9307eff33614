package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serviceHome points HOME at a fresh dir, so that nothing touches the real user's files,
// and returns an initialized data dir.
func serviceHome(t *testing.T) (home, data string) {
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	data = filepath.Join(home, ".allforone")
	if _, err := runInProcess(t, "--data", data, "init", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return home, data
}

func TestServiceInstallDryRunShowsTheUnit(t *testing.T) {
	home, data := serviceHome(t)
	out, err := runInProcess(t, "--data", data, "service", "install", "--dry-run", "--platform", "linux", "--binary", "/opt/allforone/allforone")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(home, ".config", "systemd", "user", "allforone.service")
	for _, want := range []string{
		"install with systemd would:",
		"write " + unit + ":",
		"    ExecStart=/opt/allforone/allforone --data " + data + " daemon",
		"    Restart=on-failure",
		"run systemctl --user daemon-reload",
		"run systemctl --user restart allforone.service",
		"loginctl enable-linger",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Fatalf("a dry run wrote %s (%v)", unit, err)
	}
}

func TestServiceDryRunJSONForWindowsAndMacOS(t *testing.T) {
	_, data := serviceHome(t)
	for _, c := range []struct{ platform, want string }{
		{"windows", "<LogonTrigger>"},
		{"darwin", "<key>KeepAlive</key>"},
	} {
		out, err := runInProcess(t, "--data", data, "--json", "service", "--name", "af2", "install", "--dry-run", "--platform", c.platform, "--binary", "/opt/allforone")
		if err != nil {
			t.Fatal(err)
		}
		var plan struct {
			Platform string `json:"platform"`
			Steps    []struct {
				Write *struct {
					Path    string `json:"path"`
					Content string `json:"content"`
				} `json:"write"`
				Command []string `json:"command"`
			} `json:"steps"`
		}
		if err := json.Unmarshal([]byte(out), &plan); err != nil {
			t.Fatalf("%s: not JSON: %v: %s", c.platform, err, out)
		}
		if len(plan.Steps) < 2 || plan.Steps[0].Write == nil || !strings.Contains(plan.Steps[0].Write.Content, c.want) || !strings.Contains(plan.Steps[0].Write.Path, "af2") {
			t.Errorf("%s plan: %s", c.platform, out)
		}
	}
}

func TestServiceRefusals(t *testing.T) {
	_, data := serviceHome(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"uninitialized data dir", []string{"--data", t.TempDir(), "service", "install", "--dry-run", "--binary", "/opt/allforone"}, "init"},
		{"another platform for real", []string{"--data", data, "service", "install", "--platform", otherPlatform(), "--binary", "/opt/allforone"}, "--dry-run"},
		{"a go run binary", []string{"--data", data, "service", "install", "--dry-run"}, "go build"},
		{"bad name", []string{"--data", data, "service", "--name", "a b", "install", "--dry-run", "--binary", "/opt/allforone"}, "service name"},
		{"arguments", []string{"--data", data, "service", "status", "extra"}, "no arguments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runInProcess(t, c.args...)
			if exitCode(err) != exitUsage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("exit %d: %v; want exit %d saying %q", exitCode(err), err, exitUsage, c.want)
			}
		})
	}
}

func otherPlatform() string {
	if runtime.GOOS == "windows" {
		return "linux"
	}
	return "windows"
}

func TestServiceStatusNotInstalled(t *testing.T) {
	_, data := serviceHome(t)
	out, err := runInProcess(t, "--data", data, "--json", "service", "status")
	if err != nil {
		t.Skipf("no service support here: %v", err)
	}
	var st struct {
		Installed bool   `json:"installed"`
		State     string `json:"state"`
		File      string `json:"file"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v: %s", err, out)
	}
	if st.Installed || st.State != "not installed" || st.File == "" {
		t.Fatalf("status = %+v", st)
	}
}

// `service run` is what the Windows task runs; it works anywhere: it keeps the daemon
// running, with its output in daemon.log, and stops it gracefully when it is stopped.
func TestServiceRunSupervisesTheDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon")
	}
	dir := initNode(t)
	cmd := exec.Command(cliBinary(t), "--data", dir, "service", "run")
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	logFile := filepath.Join(dir, "daemon.log")
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), "daemon ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"daemon ready\" in daemon.log after 30s:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("service run exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("service run did not exit within 30s of SIGTERM")
	}
	b, _ := os.ReadFile(logFile)
	for _, want := range []string{"allforone service: starting", "node stopped", "allforone service: stopped"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("daemon.log does not have %q:\n%s", want, b)
		}
	}
}
