package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Request bodies of the local API are read through a limit, checked against their declared
// length first, and refused with 413 and a message that says the limit and what to do.

// MaxSubmitJSON bounds the JSON body of POST /api/v1/batches: 32 MiB, room for a module and
// inputs of about 24 MiB in base64. Larger batches upload their module and inputs with
// POST /api/v1/blobs (one blob per request, each up to tasks.MaxBlobSize) and name them by
// content ID, as the CLI does.
const MaxSubmitJSON = 32 << 20

// MaxSmallBody bounds the JSON body of the API's other POST endpoints.
const MaxSmallBody = 64 << 10

// After refusing a body as too large, the server reads and throws away the rest of it, up
// to drainLimit bytes and for at most drainTime, before it closes the connection: a client
// that sends the whole body before reading the answer (many do) then sees the 413 instead
// of a broken pipe. A body beyond the bound gets its connection closed.
const (
	drainLimit = 4 << 30
	drainTime  = 30 * time.Second
)

// DecodeJSON decodes r's body, a single JSON value of at most limit bytes, into v. Unknown
// fields and trailing data are refused. On failure it answers (400, or 413 for a body over
// the limit) and returns false; what names the body in the message.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, what string, v any) bool {
	if r.ContentLength > limit {
		TooLarge(w, r, fmt.Sprintf("%s is %d bytes, over the %d byte limit", what, r.ContentLength, limit))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		TooLarge(w, r, fmt.Sprintf("%s is over the %d byte limit", what, limit))
		return false
	case errors.Is(err, io.EOF):
		WriteJSON(w, http.StatusBadRequest, Error{Error: what + " is empty: send a JSON object"})
		return false
	case err != nil:
		WriteJSON(w, http.StatusBadRequest, Error{Error: what + " is not valid: " + err.Error()})
		return false
	}
	return true
}

// NoBody checks that a POST endpoint that takes no parameters got none: an empty body or
// an empty JSON object. Anything else is answered with 400, so a client that thinks it
// passes an option learns that it does not.
func NoBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 {
		return true
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxSmallBody))
	dec.DisallowUnknownFields()
	var empty struct{}
	err := dec.Decode(&empty)
	if errors.Is(err, io.EOF) {
		return true
	}
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		WriteJSON(w, http.StatusBadRequest, Error{Error: r.URL.Path + " takes no parameters: send no body or {} (" + err.Error() + ")"})
		return false
	}
	return true
}

// TooLarge answers 413 with msg and the way around it, then drains the rest of the body
// (see drainLimit) so the client can read the answer.
func TooLarge(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Connection", "close")
	WriteJSON(w, http.StatusRequestEntityTooLarge, Error{Error: msg + ": " + tooLargeHint(r.URL.Path)})
	rc := http.NewResponseController(w)
	rc.Flush()
	rc.SetReadDeadline(time.Now().Add(drainTime))
	io.Copy(io.Discard, io.LimitReader(r.Body, drainLimit))
}

func tooLargeHint(path string) string {
	switch path {
	case "/api/v1/batches":
		return "upload the module and large inputs with POST /api/v1/blobs and name them by cid (module_blob, inputs[].blob); `allforone submit` does this"
	case "/api/v1/blobs":
		return "one blob (a module or one task's input) is at most 256 MiB: split the input into several tasks"
	}
	return "send a smaller body"
}
