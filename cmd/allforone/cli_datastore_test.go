package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects a daemon's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemonProc is a daemon the test stops itself.
type daemonProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	logs *lockedBuffer
}

// runDaemon starts `allforone daemon` on dir and waits until its API answers.
func runDaemon(t *testing.T, dir string) *daemonProc {
	t.Helper()
	d := &daemonProc{cmd: exec.Command(cliBinary(t), "--data", dir, "daemon", "--testnet-mode"),
		done: make(chan struct{}), logs: &lockedBuffer{}}
	d.cmd.Env = cleanEnv()
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop(t) })
	waitFor(t, 30*time.Second, "the API of "+dir, func() bool {
		select {
		case <-d.done:
			t.Fatalf("daemon on %s exited early: %s", dir, d.logs.String())
		default:
		}
		return runCLI(t, "--data", dir, "id", "--json").code == 0
	})
	return d
}

// stop ends the daemon with SIGINT and waits for it.
func (d *daemonProc) stop(t *testing.T) {
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Errorf("daemon did not stop within 20s of SIGINT")
	}
}

// waitFor polls cond every 100ms until it holds, or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after %s", what, d)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// slowDaemon makes every task on dir's daemon take minutes (the testing API), so a batch
// stays running for the whole test.
func slowDaemon(t *testing.T, dir string) {
	t.Helper()
	addr, err1 := os.ReadFile(filepath.Join(dir, "api"))
	token, err2 := os.ReadFile(filepath.Join(dir, "api.token"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	req, _ := http.NewRequest("POST", "http://"+strings.TrimSpace(string(addr))+"/api/v1/testing/slow", strings.NewReader(`{"delay_ms": 600000}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST testing/slow: %s", resp.Status)
	}
}

// stackFrame matches a line of a Go stack trace.
var stackFrame = regexp.MustCompile(`\.go:\d+|goroutine \d+|panic:`)

// A node whose datastore files hold garbage (written, synced and closed cleanly before)
// refuses to start with the file and what to do, exit code 4 and no stack trace; `repair`
// and `doctor` say the same; `repair --move-aside` keeps the old datastore in backups/ and
// the node starts empty and learns the running batch again from its peer.
func TestCLICorruptDatastoreRepairAndResync(t *testing.T) {
	a := initNode(t)
	runDaemon(t, a)
	var idA struct {
		Addrs []string `json:"addrs"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, "--data", a, "id", "--json").stdout), &idA); err != nil || len(idA.Addrs) == 0 {
		t.Fatalf("id --json: %v", err)
	}
	b := initNode(t, "--bootstrap", idA.Addrs[0])
	db := runDaemon(t, b)
	slowDaemon(t, a)
	slowDaemon(t, b)

	inputs := t.TempDir()
	if err := os.WriteFile(filepath.Join(inputs, "one"), []byte("1 1000"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "--data", a, "submit", "--module", filepath.Join("..", "..", "tasks", "examples", "wasm", "primes.wasm"),
		"--inputs", inputs, "--replicas", "1", "--keep", "1")
	if r.code != 0 {
		t.Fatalf("submit: %+v", r)
	}
	batchID := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0])
	knows := func() bool { return strings.Contains(runCLI(t, "--data", b, "batches", "--json").stdout, batchID) }
	waitFor(t, 30*time.Second, "node B to know the batch", knows)
	db.stop(t)

	ssts, _ := filepath.Glob(filepath.Join(b, "datastore", "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no sst in B's datastore after a clean stop")
	}
	for i, f := range ssts {
		garbleFile(t, f, uint64(i+1))
	}

	r = runCLI(t, "--data", b, "daemon", "--testnet-mode")
	if r.code != exitDataDir {
		t.Fatalf("daemon on a garbage datastore: exit %d, want %d: %s", r.code, exitDataDir, r.stderr)
	}
	for _, want := range []string{"datastore is corrupt", ".sst", "allforone repair --data " + b, "--move-aside"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("daemon stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if m := stackFrame.FindString(r.stderr); m != "" || strings.Contains(r.stderr, "FATAL") {
		t.Errorf("daemon stderr has a stack trace or FATAL (%q):\n%s", m, r.stderr)
	}

	r = runCLI(t, "--data", b, "repair")
	if r.code != exitDataDir || !strings.Contains(r.stdout, "CORRUPT") || !strings.Contains(r.stdout, ".sst") || !strings.Contains(r.stdout, "--move-aside") {
		t.Fatalf("repair on a garbage datastore: %+v", r)
	}
	if checks, _ := doctorRun(t, b); checks["datastore"].Status != statusFail || !strings.Contains(checks["datastore"].Fix, "repair") {
		t.Errorf("doctor on a garbage datastore: %+v", checks["datastore"])
	}

	r = runCLI(t, "--data", b, "--json", "repair", "--move-aside")
	var out repairOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || out.MovedTo == "" {
		t.Fatalf("repair --move-aside: %v: %+v", err, r)
	}
	if moved, _ := filepath.Glob(filepath.Join(out.MovedTo, "*.sst")); len(moved) != len(ssts) {
		t.Errorf("the backup %s holds %d ssts, want %d", out.MovedTo, len(moved), len(ssts))
	}
	if r := runCLI(t, "--data", b, "repair"); r.code != 0 {
		t.Errorf("repair after --move-aside: %+v", r)
	}

	db = runDaemon(t, b)
	waitFor(t, 60*time.Second, "node B to learn the running batch again from A", knows)
	if !strings.Contains(db.logs.String(), "datastore lost data") {
		t.Errorf("B's log does not report the reset:\n%s", db.logs.String())
	}
	if w := runCLI(t, "--data", b, "why", "--json"); !strings.Contains(w.stdout, `"data_lost"`) {
		t.Errorf("why after the reset: %+v", w)
	}
	if checks, _ := doctorRun(t, b); checks["datastore"].Status != statusWarn {
		t.Errorf("doctor after the reset: %+v, want a warning", checks["datastore"])
	}
}

// garbleFile overwrites the whole of path with seeded random bytes.
func garbleFile(t *testing.T, path string, seed uint64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, fi.Size())
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A daemon killed after three submissions, whose newest log is then truncated inside the
// third batch's manifest, starts with two batches and logs what was lost; why and doctor
// say so too.
func TestCLILostLogTailIsLogged(t *testing.T) {
	a := initNode(t)
	d := runDaemon(t, a)
	inputs := t.TempDir()
	if err := os.WriteFile(filepath.Join(inputs, "one"), []byte("1 1000"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		r := runCLI(t, "--data", a, "submit", "--module", filepath.Join("..", "..", "tasks", "examples", "wasm", "primes.wasm"),
			"--inputs", inputs, "--replicas", "1", "--keep", "1", "--name", "b"+string(rune('0'+i)))
		if r.code != 0 {
			t.Fatalf("submit: %+v", r)
		}
		ids = append(ids, strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0]))
	}
	d.cmd.Process.Kill() // like a crash: pebble's log holds the batches, no sst does
	<-d.done

	logs, _ := filepath.Glob(filepath.Join(a, "datastore", "*.log"))
	if len(logs) == 0 {
		t.Fatal("no log file")
	}
	slices.Sort(logs)
	wal := logs[len(logs)-1]
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	cut := bytes.Index(b, []byte("/batches/"+ids[2]))
	if cut < 0 {
		t.Fatalf("the third batch is not in the newest log %s", wal)
	}
	if err := os.Truncate(wal, int64(cut)); err != nil {
		t.Fatal(err)
	}

	d = runDaemon(t, a)
	l := d.logs.String()
	for _, want := range []string{"datastore lost data", "log ended early", "batches 3 -> 2"} {
		if !strings.Contains(l, want) {
			t.Errorf("the daemon's log does not say %q:\n%s", want, l)
		}
	}
	if r := runCLI(t, "--data", a, "batches", "--json"); strings.Contains(r.stdout, ids[2]) || !strings.Contains(r.stdout, ids[1]) {
		t.Errorf("batches after the cut: %s", r.stdout)
	}
	if w := runCLI(t, "--data", a, "why"); !strings.Contains(w.stdout, "lost data before this start") {
		t.Errorf("why after the cut: %+v", w)
	}
	if checks, _ := doctorRun(t, a); checks["datastore"].Status != statusWarn || !strings.Contains(checks["datastore"].Detail, "batches 3 -> 2") {
		t.Errorf("doctor after the cut: %+v", checks["datastore"])
	}
}
