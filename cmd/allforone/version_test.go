package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// runInProcess runs the command tree in this process and returns what it printed and its error.
func runInProcess(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	err := app.Run(t.Context(), append([]string{"allforone"}, args...))
	return out.String(), err
}

func TestVersionJSON(t *testing.T) {
	out, err := runInProcess(t, "--data", t.TempDir(), "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version --json is not JSON: %v: %q", err, out)
	}
	if v.Version != version || v.GoVersion != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version info = %+v", v)
	}
	if v.Swarm != "main" || v.ManifestVersion != 1 || v.DataDirVersion != 1 {
		t.Errorf("swarm %q, manifest %d, data dir %d; want main, 1, 1", v.Swarm, v.ManifestVersion, v.DataDirVersion)
	}
	got := map[string]string{}
	for _, p := range v.Protocols {
		got[p.Name] = p.Version + " " + p.ID
	}
	for name, want := range map[string]string{
		"steward": "1.0.0 /allforone/main/steward/1.0.0",
		"blob":    "1.0.0 /allforone/main/blob/1.0.0",
		"result":  "1.0.0 /allforone/main/result/1.0.0",
		"kad":     "1.0.0 /allforone/main/kad/1.0.0",
		"batches": "1 /allforone/main/batches/1",
	} {
		if got[name] != want {
			t.Errorf("protocol %s = %q, want %q", name, got[name], want)
		}
	}
	// Raw field names are part of the scripting interface.
	for _, key := range []string{`"version"`, `"go_version"`, `"protocols"`, `"manifest_version"`, `"data_dir_version"`} {
		if !strings.Contains(out, key) {
			t.Errorf("version --json has no %s field: %s", key, out)
		}
	}
}

func TestVersionTextUsesTheDataDirsSwarm(t *testing.T) {
	dir := t.TempDir()
	if _, err := runInProcess(t, "--data", dir, "init", "--swarm", "lab", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	out, err := runInProcess(t, "--data", dir, "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"allforone " + version, "protocols  (swarm lab)", "/allforone/lab/steward/1.0.0", "manifest   format 1", "data dir   format 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output does not have %q:\n%s", want, out)
		}
	}
	if _, err := runInProcess(t, "version", "extra"); exitCode(err) != exitUsage {
		t.Errorf("version with an argument: exit %d (%v), want %d", exitCode(err), err, exitUsage)
	}
}
