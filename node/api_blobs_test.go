package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

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
