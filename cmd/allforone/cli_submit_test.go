package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/tasks/wasmtest"
)

// runCLIMem is runCLI that also reports the command's peak RSS (0 where not measured).
func runCLIMem(t *testing.T, args ...string) (cliResult, int64) {
	t.Helper()
	bin := cliBinary(t) // before the clock starts, as runCLIEnv
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	rss, _ := exitedMaxRSS(cmd.ProcessState)
	return cliResult{stdout.String(), stderr.String(), code}, rss
}

func writeTestFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliMemBound is what a CLI run that reads no big file may take: the binary's own
// footprint with room to spare, far below the gigabytes the old code took.
const cliMemBound = 150 << 20

// TestCLISubmitRefusesBeforeReading, with a daemon running: a batch file with a huge range
// is refused while it is parsed, and a 300 MB input by stat, each with exit 2 and what to
// do; neither the CLI nor the daemon grows (the old CLI expanded the range, and read the
// 300 MB file to 1.5 GB before the daemon refused it with no file name).
func TestCLISubmitRefusesBeforeReading(t *testing.T) {
	data := initNode(t)
	daemon := startDaemon(t, data)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "echo.wasm"), wasmtest.Echo())
	daemonBefore, measured := peakRSS(daemon.Process.Pid)

	for _, tc := range []struct{ json, says string }{
		{`{"module": "echo.wasm", "inputs": [{"range": {"start": 0, "end": 9223372036854775807}}]}`, "out of bounds"},
		{`{"module": "echo.wasm", "range": {"start": 0, "end": 10000000}}`, "10000000 tasks is more than 1048576: split the batch"},
	} {
		batch := writeTestFile(t, filepath.Join(dir, "huge.json"), []byte(tc.json))
		start := time.Now()
		r, rss := runCLIMem(t, "--data", data, "submit", "--manifest", batch)
		t.Logf("refused in %s (CLI peak RSS %d MiB)", time.Since(start), rss>>20)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("submit --manifest %s: exit %d, %q; want exit 2 saying %q", tc.json, r.code, r.stderr, tc.says)
		}
		if rss > cliMemBound {
			t.Errorf("the CLI took %d MiB to refuse it", rss>>20)
		}
	}

	in := filepath.Join(dir, "in")
	writeTestFile(t, filepath.Join(in, "a.txt"), []byte("small"))
	big := filepath.Join(in, "b.bin")
	writeTestFile(t, big, nil)
	if err := os.Truncate(big, 300_000_000); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	r, rss := runCLIMem(t, "--data", data, "submit", "--module", filepath.Join(dir, "echo.wasm"), "--inputs", in)
	if r.code != exitUsage || !strings.Contains(r.stderr, big) || !strings.Contains(r.stderr, "300000000 bytes, over the 268435456 byte") {
		t.Errorf("submit with a 300 MB input: exit %d, %q; want exit 2 naming the file and the limit", r.code, r.stderr)
	}
	if rss > cliMemBound {
		t.Errorf("the CLI took %d MiB to refuse a file it should only stat", rss>>20)
	}
	if daemonAfter, ok := peakRSS(daemon.Process.Pid); measured && ok {
		t.Logf("daemon peak RSS %d MiB before, %d MiB after", daemonBefore>>20, daemonAfter>>20)
		if daemonAfter-daemonBefore > 16<<20 {
			t.Errorf("the daemon's peak RSS grew by %d MiB for refused submissions", (daemonAfter-daemonBefore)>>20)
		}
	}
	// Nothing reached the daemon: it knows no batch and stores no blob.
	var batches []json.RawMessage
	if r := runCLI(t, "--data", data, "--json", "batches"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &batches) != nil || len(batches) != 0 {
		t.Errorf("batches after refusals: exit %d %q", r.code, r.stdout)
	}
}

// TestCLISubmitStreamsFilesAndNamesOutputs: submit streams the module and a larger input
// as blobs, inlines a small one, and --out names every output as run --local does; a batch
// file without a name is named after the file; errors the daemon finds exit 2.
func TestCLISubmitStreamsFilesAndNamesOutputs(t *testing.T) {
	data := initNode(t)
	startDaemon(t, data)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "echo.wasm"), wasmtest.Echo())
	large := bytes.Repeat([]byte("L"), 100_000)
	writeTestFile(t, filepath.Join(dir, "in", "large.txt"), large)
	writeTestFile(t, filepath.Join(dir, "in", "small.txt"), []byte("s"))
	batch := writeTestFile(t, filepath.Join(dir, "tiles.json"), []byte(`{
		"module": "echo.wasm", "output_ext": ".out", "redundancy": 1, "replication": 1,
		"inputs": ["in/large.txt", "in/small.txt", {"inline": "x"}, {"range": {"start": 3, "end": 5, "prefix": "v="}}],
		"limits": {"memory_mb": 16, "timeout": "30s"}
	}`))
	out := filepath.Join(dir, "out")
	r := runCLI(t, "--data", data, "--json", "submit", "--manifest", batch, "--wait", "--out", out)
	if r.code != 0 {
		t.Fatalf("submit --manifest --wait --out: exit %d: %s", r.code, r.stderr)
	}
	var st struct {
		BatchID string `json:"batch_id"`
		Name    string `json:"name"`
		Written int    `json:"written"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Written != 5 || st.Name != "tiles" {
		t.Fatalf("submit output %q: %v; want 5 outputs of a batch named tiles", r.stdout, err)
	}
	for name, want := range map[string][]byte{"large.txt.out": large, "small.txt.out": []byte("s"), "inline-2.out": []byte("x"), "3.out": []byte("v=3"), "4.out": []byte("v=4")} {
		if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("output %s: %d bytes, %v", name, len(got), err)
		}
	}
	if r := runCLI(t, "--data", data, "status", st.BatchID); !strings.Contains(r.stdout, "("+"tiles"+")") {
		t.Errorf("status shows %q, want the batch's name", r.stdout)
	}

	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"status of a bad ID", []string{"status", "notacid"}, "not a batch ID"},
		{"connect to a bad target", []string{"peers", "connect", "hello"}, "neither a multiaddr nor a peer ID"},
		{"replicas 0", []string{"submit", "--module", filepath.Join(dir, "echo.wasm"), "--inputs", filepath.Join(dir, "in"), "--replicas", "0"}, "--replicas 0: use 1 to 16"},
		{"results of an unknown batch", []string{"results", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "--out", filepath.Join(dir, "x")}, "unknown batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"--data", data}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.says) {
				t.Errorf("exit %d, %q; want exit 2 saying %q", r.code, r.stderr, tc.says)
			}
		})
	}
}

// TestCLIBatchFileStaysUnderItsFolder: a batch file that names a file outside its folder
// (by "..", an absolute path or a symbolic link) is refused by run and submit with exit 2
// and what to do; --inputs-root (or its environment twin) allows the folder that holds it.
func TestCLIBatchFileStaysUnderItsFolder(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "batches")
	writeTestFile(t, filepath.Join(dir, "echo.wasm"), wasmtest.Echo())
	secret := writeTestFile(t, filepath.Join(top, "private", "identity.key"), []byte("secret"))
	if err := os.Symlink(secret, filepath.Join(dir, "innocent.txt")); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	data := filepath.Join(top, "data")
	for _, tc := range []struct{ name, input, says string }{
		{"dot-dot", "../private/identity.key", `input "../private/identity.key" is ` + secret + `, outside the batch file's folder`},
		{"absolute", secret, "outside the batch file's folder"},
		{"symlink", "innocent.txt", "leads through a symbolic link to " + secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batch := writeTestFile(t, filepath.Join(dir, tc.name+".json"), []byte(`{"module": "echo.wasm", "inputs": ["`+tc.input+`"], "redundancy": 1}`))
			for _, cmd := range [][]string{
				{"--data", data, "run", "--local", "--manifest", batch, "--out", filepath.Join(top, "out")},
				{"--data", data, "submit", "--manifest", batch},
			} {
				r := runCLI(t, cmd...)
				if r.code != exitUsage || !strings.Contains(r.stderr, tc.says) || !strings.Contains(r.stderr, "--inputs-root") {
					t.Errorf("%s: exit %d, %q; want exit 2 saying %q and what to do", cmd[2], r.code, r.stderr, tc.says)
				}
			}
			out := filepath.Join(top, "out-"+tc.name)
			r := runCLIEnv(t, []string{envName(flagInputsRoot) + "=" + top}, "--data", data, "run", "--local", "--manifest", batch, "--out", out)
			if r.code != 0 {
				t.Fatalf("run with ALLFORONE_INPUTS_ROOT=%s: exit %d: %s", top, r.code, r.stderr)
			}
			if r := runCLI(t, "--data", data, "run", "--local", "--manifest", batch, "--inputs-root", top, "--out", out); r.code != 0 {
				t.Fatalf("run --inputs-root %s: exit %d: %s", top, r.code, r.stderr)
			}
		})
	}
}

// TestCLINumbersOutOfRange: a value a numeric flag's type cannot hold says the range.
func TestCLINumbersOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		says string
	}{
		{[]string{"run", "--local", "--memory", "99999999999"}, nil, "--memory 99999999999: use 1 to 4096 (MiB)"},
		{[]string{"run", "--local", "--memory", "5000"}, nil, "--memory 5000: use 1 to 4096 (MiB)"},
		{[]string{"run", "--local", "--max-output", "99999999999999999999"}, nil, "--max-output 99999999999999999999: use 1 to 67108864"},
		{[]string{"submit", "--keep", "99999999999"}, nil, "--keep 99999999999: use 1 to 16"},
		{[]string{"run", "--local"}, []string{"ALLFORONE_MEMORY=99999999999"}, "ALLFORONE_MEMORY=99999999999 (the twin of --memory): use 1 to 4096"},
	} {
		r := runCLIEnv(t, tc.env, append([]string{"--data", t.TempDir()}, tc.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%v %v: exit %d, %q; want exit 2 saying %q", tc.env, tc.args, r.code, r.stderr, tc.says)
		}
	}
}
