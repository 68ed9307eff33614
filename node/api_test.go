package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"allforone/node/internal/api"
	"allforone/node/internal/store"
	"allforone/tasks"
	"allforone/tasks/wasmtest"
)

// TestUploadThenSubmitByCID: the module and a large input are streamed as blobs and named by
// content ID; the batch runs, and its output names come back as a rule (one entry per
// input, not per task), with the range named by prefix and value.
func TestUploadThenSubmitByCID(t *testing.T) {
	n := newTestNode(t)
	c := apiClient(t, n)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	mod := wasmtest.Echo()
	big := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB: no JSON, no base64
	mb, err := c.PutBlob(ctx, bytes.NewReader(mod), int64(len(mod)))
	if err != nil || mb.CID != tasks.ContentID(mod).String() || mb.Size != int64(len(mod)) {
		t.Fatalf("upload module: %+v %v", mb, err)
	}
	ib, err := c.PutBlob(ctx, bytes.NewReader(big), -1) // without a length: read to the end
	if err != nil || ib.CID != tasks.ContentID(big).String() {
		t.Fatalf("upload input: %+v %v", ib, err)
	}
	res, err := c.Submit(ctx, SubmitRequest{
		Name: "by cid", ModuleBlob: mb.CID, OutputExt: ".out",
		Inputs: []SubmitInput{
			{Name: "big", Blob: ib.CID},
			{Name: "small", Data: []byte("hi")},
			{Name: "tile-", Range: &tasks.Range{Start: 7, End: 10, Prefix: []byte("t")}},
		},
		MemoryPages: 64, TimeoutMS: 60_000, MaxOutputBytes: 4 << 20, Redundancy: 1, Replication: 1,
	})
	if err != nil || res.Tasks != 5 {
		t.Fatalf("submit by cid: %+v %v", res, err)
	}
	names, ok, err := c.OutputNames(ctx, res.BatchID)
	if err != nil || !ok || len(names.Inputs) != 3 {
		t.Fatalf("names: %+v %v %v", names, ok, err)
	}
	name := names.Namer()
	var got []string
	for i := range 6 {
		got = append(got, name(i))
	}
	if s := strings.Join(got, " "); s != "big.out small.out tile-7.out tile-8.out tile-9.out " {
		t.Errorf("output names %q", s)
	}
	id := mustCID(t, res.BatchID)
	deadlineFor(t, ctx, "five results held", func() bool { return n.HeldResults(id) == 5 })
	out, err := c.Output(ctx, res.BatchID, 0)
	if err != nil || !bytes.Equal(out, big) {
		t.Fatalf("output of the uploaded input: %d bytes, %v", len(out), err)
	}
	// A node that did not submit a batch has no names for it: 404, and the client says so.
	other := newTestNode(t)
	if _, ok, err := apiClient(t, other).OutputNames(ctx, res.BatchID); ok || err != nil {
		t.Errorf("names on another node: ok %v, %v", ok, err)
	}
}

// TestOutputNamesOfOlderVersions: names kept as a list (one per task) read as a rule.
func TestOutputNamesOfOlderVersions(t *testing.T) {
	n := newTestNode(t)
	id := tasks.ContentID([]byte("a batch"))
	raw, _ := json.Marshal([]string{"a.txt", "b.txt"})
	if err := n.ds.Put(t.Context(), store.NamesKey(id), raw); err != nil {
		t.Fatal(err)
	}
	rule, ok := n.OutputNames(t.Context(), id)
	if !ok || rule.Name(0) != "a.txt" || rule.Name(1) != "b.txt" || rule.Name(2) != "" {
		t.Fatalf("legacy names: %+v %v", rule, ok)
	}
}

// TestBearerSchemeIgnoresCase: RFC 7235 auth schemes are case-insensitive.
func TestBearerSchemeIgnoresCase(t *testing.T) {
	n := newTestNode(t)
	tok, _ := api.ReadToken(n.cfg.DataDir)
	for auth, want := range map[string]int{
		"Bearer " + tok: http.StatusOK, "bearer " + tok: http.StatusOK, "BEARER " + tok: http.StatusOK,
		"Bearer  " + tok: http.StatusOK, "Basic " + tok: http.StatusUnauthorized, tok: http.StatusUnauthorized,
		"Bearer": http.StatusUnauthorized, "Bearer x" + tok: http.StatusUnauthorized,
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+n.APIAddr()+"/api/v1/id", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", strings.Replace(auth, tok, "<token>", 1), resp.StatusCode, want)
		}
	}
}

// TestPostEndpointsRefuseWhatTheyDoNotTake: parameterless POST endpoints take no body or
// {}, and refuse an option they would silently ignore; the client maps 4xx to StatusError.
func TestPostEndpointsRefuseWhatTheyDoNotTake(t *testing.T) {
	n := newTestNode(t)
	for _, path := range []string{"/api/v1/gc", "/api/v1/prefs/reload"} {
		for _, body := range []string{"", "{}"} {
			if code, msg := apiPostString(t, n, path, body); code != http.StatusOK {
				t.Errorf("POST %s %q: %d %s", path, body, code, msg)
			}
		}
		if code, msg := apiPostString(t, n, path, `{"force": true}`); code != http.StatusBadRequest || !strings.Contains(msg, "takes no parameters") {
			t.Errorf("POST %s with an option: %d %s, want 400", path, code, msg)
		}
	}
	if code, msg := apiPostString(t, n, "/api/v1/batches", `{"inputs":[{}]} {"inputs":[{}]}`); code != http.StatusBadRequest || !strings.Contains(msg, "more than one JSON value") {
		t.Errorf("two JSON values: %d %s", code, msg)
	}
	_, err := apiClient(t, n).Status(t.Context(), "notacid")
	var se *StatusError
	if !errors.As(err, &se) || !se.BadRequest() || !strings.Contains(se.Message, "not a batch ID") {
		t.Errorf("status of a bad ID: %v, want a 400 StatusError", err)
	}
}

// apiPost posts body (size bytes, -1: unknown, sent chunked) to the node's API with its
// token and returns the status and the answer.
func apiPost(t *testing.T, n *Node, path string, body io.Reader, size int64) (int, string) {
	t.Helper()
	tok, err := api.ReadToken(n.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+n.APIAddr()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e APIError
	if resp.StatusCode/100 != 2 && json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error // the message, unescaped
	}
	return resp.StatusCode, string(b)
}

func apiPostString(t *testing.T, n *Node, path, body string) (int, string) {
	t.Helper()
	return apiPost(t, n, path, strings.NewReader(body), int64(len(body)))
}

// heapProbe measures what the process allocates between its creation and check: in all,
// at the peak (sampled every few milliseconds), and what stays live.
type heapProbe struct {
	before runtime.MemStats
	stop   chan struct{}
	done   chan struct{}
	peak   uint64
}

func newHeapProbe() *heapProbe {
	p := &heapProbe{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.GC()
	runtime.ReadMemStats(&p.before)
	p.peak = p.before.HeapInuse
	go func() {
		defer close(p.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			p.peak = max(p.peak, m.HeapInuse)
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// check fails the test if more than maxAlloc bytes were allocated in all (0: not checked;
// anything in the process counts, and the node's loops allocate a little too), if the heap
// in use rose above where it started by more than maxPeak at any sample, or if it stays
// more than maxGrowth above it after a collection.
func (p *heapProbe) check(t *testing.T, what string, maxAlloc, maxPeak, maxGrowth uint64) {
	t.Helper()
	close(p.stop)
	<-p.done
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - p.before.TotalAlloc
	peak := p.peak - p.before.HeapInuse
	growth := int64(after.HeapInuse) - int64(p.before.HeapInuse)
	t.Logf("%s: allocated %d KiB, heap in use peaked %d KiB above the start and ends %+d KiB", what, alloc>>10, peak>>10, growth>>10)
	if maxAlloc > 0 && alloc > maxAlloc {
		t.Errorf("%s allocated %d bytes, want at most %d", what, alloc, maxAlloc)
	}
	if peak > maxPeak {
		t.Errorf("%s took the heap in use %d bytes above the start, want at most %d", what, peak, maxPeak)
	}
	if growth > int64(maxGrowth) {
		t.Errorf("%s left the heap in use %d bytes higher, want at most %d", what, growth, maxGrowth)
	}
}

// TestSubmitHugeRangeIsRefusedByArithmetic: a range of 2^63 tasks (the request
// grew the daemon to 22.5 GB) and one of 10 million (490 MB and 1.7 s) are refused with 400
// and the task limit in the message, and the daemon's heap stays flat.
func TestSubmitHugeRangeIsRefusedByArithmetic(t *testing.T) {
	n := newTestNode(t)
	for _, tc := range []struct{ body, says, fix string }{
		{`{"module":"AGFzbQEAAAA=","inputs":[{"range":{"start":0,"end":9223372036854775807}}]}`, "out of bounds", "must lie within [-4611686018427387903, 4611686018427387903]"},
		{`{"module":"AGFzbQEAAAA=","inputs":[{"range":{"start":0,"end":10000000}}]}`, "10000000 tasks is more than 1048576", "split the batch"},
		{`{"module":"AGFzbQEAAAA=","inputs":[{"range":{"start":-4611686018427387903,"end":4611686018427387903}},{"range":{"start":-4611686018427387903,"end":4611686018427387903}}]}`, "more than 1048576 tasks", "split the batch"},
	} {
		probe := newHeapProbe()
		start := time.Now()
		code, body := apiPostString(t, n, "/api/v1/batches", tc.body)
		took := time.Since(start)
		probe.check(t, "refusing "+tc.says, 8<<20, 8<<20, 2<<20)
		t.Logf("refused in %s", took)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.says) || !strings.Contains(body, tc.fix) {
			t.Errorf("%s: %d %s, want 400 saying %q and what to do", tc.body, code, body, tc.says)
		}
	}
	if got := len(n.listBatches()); got != 0 {
		t.Errorf("%d batches known after refusals", got)
	}
}

// zeros is an io.Reader of n spaces (valid JSON whitespace), made as it is read.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	for i := range p {
		p[i] = ' '
	}
	z.n -= int64(len(p))
	return len(p), nil
}

// TestOversizedBodiesGet413: a 1.1 GB submission body (the client got a broken pipe
// and the daemon grew to 2.5 GB) gets 413 with the limit and what to do, and so does an
// upload over the blob limit sent without a length; the heap stays flat.
func TestOversizedBodiesGet413(t *testing.T) {
	n := newTestNode(t)
	probe := newHeapProbe()
	code, body := apiPost(t, n, "/api/v1/batches", &zeros{n: 1100 << 20}, 1100<<20)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "33554432 byte limit") || !strings.Contains(body, "POST /api/v1/blobs") {
		t.Errorf("1.1 GB submission: %d %s, want 413 with the limit and the blob endpoint", code, body)
	}
	code, body = apiPost(t, n, "/api/v1/blobs", &zeros{n: 300 << 20}, -1) // chunked: no length to check first
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "268435456 byte limit") {
		t.Errorf("300 MB chunked upload: %d %s, want 413 with the limit", code, body)
	}
	code, body = apiPost(t, n, "/api/v1/blobs", &zeros{n: 300 << 20}, 300<<20)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "314572800 bytes") || !strings.Contains(body, "split the input") {
		t.Errorf("300 MB upload: %d %s, want 413 saying its size and what to do", code, body)
	}
	// The chunked upload was stored up to its limit before it was refused (and then
	// deleted): chunk by chunk, never as a copy of the body. The datastore's memtables hold
	// some of those chunks for a while (up to ~70 MiB seen under -race on a busy machine), so
	// the bound is what a copy of a body would break: 300 MB and up.
	probe.check(t, "refusing oversized bodies", 0, 160<<20, 64<<20)
	if u := n.Usage(); u.Blobs != 0 {
		t.Errorf("%d blobs stored after refusals", u.Blobs)
	}
}

// diskUsage measures the node's disk use now, through the API (POST /api/v1/gc measures
// it; GET /api/v1/disk reports it).
func diskUsage(t *testing.T, n *Node) DiskUsage {
	t.Helper()
	if code, body := apiPostString(t, n, "/api/v1/gc", ""); code != http.StatusOK {
		t.Fatalf("POST /api/v1/gc: %d %s", code, body)
	}
	tok, _ := api.ReadToken(n.cfg.DataDir)
	code, body, _ := get(t, "http://"+n.APIAddr()+"/api/v1/disk", tok)
	var u DiskUsage
	if code != http.StatusOK || json.Unmarshal([]byte(body), &u) != nil {
		t.Fatalf("GET /api/v1/disk: %d %s", code, body)
	}
	return u
}

// TestRefusedSubmissionStoresNothing: submissions refused for what they contain leave the
// disk use as it was (the old code stored the module and inputs first, for ever).
func TestRefusedSubmissionStoresNothing(t *testing.T) {
	n := newTestNode(t)
	before := diskUsage(t, n)
	module := bytes.Repeat([]byte("m"), 64<<10)
	input := bytes.Repeat([]byte("i"), 32<<10)
	for _, tc := range []struct {
		name string
		req  SubmitRequest
		says string
	}{
		{"R=0", SubmitRequest{Module: module, Inputs: []SubmitInput{{Data: input}}, MemoryPages: 16, TimeoutMS: 1000, MaxOutputBytes: 10, Replication: 1}, "redundancy R=0"},
		{"too many tasks", SubmitRequest{Module: module, Inputs: []SubmitInput{{Data: input}, {Range: rangeOf(0, 1<<20)}}, MemoryPages: 16, TimeoutMS: 1000, MaxOutputBytes: 10, Redundancy: 1, Replication: 1}, "1048577 tasks"},
		{"unknown blob", SubmitRequest{Module: module, Inputs: []SubmitInput{{Data: input}, {Blob: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}}, MemoryPages: 16, TimeoutMS: 1000, MaxOutputBytes: 10, Redundancy: 1, Replication: 1}, "not stored on this node"},
		{"no memory limit", SubmitRequest{Module: module, Inputs: []SubmitInput{{Data: input}}, TimeoutMS: 1000, MaxOutputBytes: 10, Redundancy: 1, Replication: 1}, "memory limit 0 pages"},
	} {
		b, _ := json.Marshal(tc.req)
		code, body := apiPostString(t, n, "/api/v1/batches", string(b))
		if code != http.StatusBadRequest || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want 400 saying %q", tc.name, code, body, tc.says)
		}
	}
	if code, body := apiPostString(t, n, "/api/v1/batches", `{"module":"AGFzbQEAAAA=","inputs":[{}],"output_names":["x"]}`); code != http.StatusBadRequest || !strings.Contains(body, `unknown field "output_names"`) {
		t.Errorf("unknown field: %d %s, want 400 naming it", code, body)
	}
	after := diskUsage(t, n)
	if after.BlobBytes != before.BlobBytes || after.Blobs != before.Blobs {
		t.Errorf("disk use %d bytes in %d blobs after refused submissions, was %d in %d", after.BlobBytes, after.Blobs, before.BlobBytes, before.Blobs)
	}
}

// TestUnreferencedBlobsAreCollectedAfterTheGrace: an upload nobody submits, and a blob an
// older version left with no batch, are collected once Config.BlobGrace has passed; an
// upload that a batch names is kept.
func TestUnreferencedBlobsAreCollectedAfterTheGrace(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	const grace = 2 * time.Second
	cfg.BlobGrace = Duration(grace)
	n := startTestNode(t, cfg, nil)
	ctx := t.Context()
	c := apiClient(t, n)

	uploaded := time.Now()
	orphan, err := c.PutBlob(ctx, strings.NewReader("nobody submits me"), -1)
	if err != nil {
		t.Fatal(err)
	}
	module, err := c.PutBlob(ctx, bytes.NewReader(wasmtest.Echo()), int64(len(wasmtest.Echo())))
	if err != nil {
		t.Fatal(err)
	}
	input, err := c.PutBlob(ctx, bytes.NewReader(bytes.Repeat([]byte("x"), 4096)), 4096)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := n.blobs.Put(ctx, []byte("left by an older version")) // no upload mark
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, SubmitRequest{Name: "kept", ModuleBlob: module.CID, Inputs: []SubmitInput{{Blob: input.CID, Name: "in"}},
		MemoryPages: 16, TimeoutMS: 60_000, MaxOutputBytes: 1 << 20, Redundancy: 1, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	has := func(id string) bool {
		ok, err := n.blobs.Has(ctx, mustCID(t, id))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	started := time.Now()
	rep, err := n.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if started.Sub(uploaded) < grace && (!has(orphan.CID) || rep.OrphansDeleted != 0) {
		t.Fatalf("an upload was collected before its grace: %+v", rep)
	}
	if !has(legacy.String()) {
		t.Fatal("a blob with no upload mark was collected at the first round that saw it")
	}
	deadline, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	deadlineFor(t, deadline, "the unreferenced blobs collected", func() bool {
		if _, err := n.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
		return !has(orphan.CID) && !has(legacy.String())
	})
	if !has(module.CID) || !has(input.CID) {
		t.Fatal("GC collected an upload that a batch names")
	}
}

// apiClient is a Client for n's API.
func apiClient(t *testing.T, n *Node) *Client {
	t.Helper()
	tok, err := api.ReadToken(n.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	return NewClientAt(n.APIAddr(), tok)
}

func rangeOf(start, end int64) *tasks.Range { return &tasks.Range{Start: start, End: end} }

func mustCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := cid.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
