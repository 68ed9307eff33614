package node

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// maxSubmitBody bounds a submission: the module and the inputs, base64 in JSON.
const maxSubmitBody = 1 << 30

func (n *Node) batchRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/batches", func(w http.ResponseWriter, r *http.Request) {
		var req SubmitRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSubmitBody)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: "submission is not valid JSON: " + err.Error()})
			return
		}
		res, err := n.Submit(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /api/v1/batches", func(w http.ResponseWriter, r *http.Request) {
		out := n.Batches()
		if out == nil {
			out = []BatchInfo{}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		st, err := n.Status(r.Context(), id)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /api/v1/batches/{id}/fetch", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		rep, err := n.FetchResults(r.Context(), id)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}/names", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		names := n.InputNames(r.Context(), id)
		if names == nil {
			names = []string{}
		}
		writeJSON(w, http.StatusOK, names)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}/results/{task}", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		task, err := strconv.Atoi(r.PathValue("task"))
		if err != nil || task < 0 {
			writeJSON(w, http.StatusBadRequest, APIError{Error: "task must be a task index (0, 1, ...)"})
			return
		}
		out, err := n.ResultOutput(r.Context(), id, task)
		if err != nil {
			writeJSON(w, http.StatusNotFound, APIError{Error: err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(out)
	})
}

// writeErr answers with the status that fits err.
func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrBadSubmission):
		status = http.StatusBadRequest
	case errors.Is(err, ErrUnknownBatch):
		status = http.StatusNotFound
	}
	writeJSON(w, status, APIError{Error: err.Error()})
}
