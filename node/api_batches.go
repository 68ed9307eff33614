package node

import (
	"errors"
	"net/http"
	"strconv"

	"allforone/node/internal/api"
	"allforone/node/internal/submit"
)

func (n *Node) batchRoutes(mux *http.ServeMux) {
	n.blobRoutes(mux) // api_blobs.go: uploads for submissions
	mux.HandleFunc("POST /api/v1/batches", func(w http.ResponseWriter, r *http.Request) {
		var req SubmitRequest
		if !api.DecodeJSON(w, r, api.MaxSubmitJSON, "submission", &req) {
			return
		}
		res, err := n.Submit(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /api/v1/batches", func(w http.ResponseWriter, r *http.Request) {
		out := n.Batches()
		if out == nil {
			out = []BatchInfo{}
		}
		api.WriteJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		st, err := n.Status(r.Context(), id)
		if err != nil {
			writeErr(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /api/v1/batches/{id}/fetch", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		if !api.NoBody(w, r) {
			return
		}
		rep, err := n.FetchResults(r.Context(), id)
		if err != nil {
			writeErr(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}/names", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		names, ok := n.OutputNames(r.Context(), id)
		if !ok {
			api.WriteJSON(w, http.StatusNotFound, APIError{Error: "this node did not submit batch " + id.String() + ": it has no names for its outputs (name them by task index)"})
			return
		}
		api.WriteJSON(w, http.StatusOK, names)
	})
	mux.HandleFunc("GET /api/v1/batches/{id}/results/{task}", func(w http.ResponseWriter, r *http.Request) {
		id, err := batchIDOf(r.PathValue("id"))
		if err != nil {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
			return
		}
		task, err := strconv.Atoi(r.PathValue("task"))
		if err != nil || task < 0 {
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: "task must be a task index (0, 1, ...)"})
			return
		}
		out, err := n.ResultOutput(r.Context(), id, task)
		if err != nil {
			api.WriteJSON(w, http.StatusNotFound, APIError{Error: err.Error()})
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
	case errors.Is(err, submit.ErrBad):
		status = http.StatusBadRequest
	case errors.Is(err, ErrUnknownBatch):
		status = http.StatusNotFound
	}
	api.WriteJSON(w, status, APIError{Error: err.Error()})
}
