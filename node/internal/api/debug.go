package api

import (
	"net/http"
	"net/http/pprof"
)

// DebugRoutes serves Go's profiles under /debug/pprof/, behind the API token like every
// other endpoint: `go tool pprof -http : 'http://ADDR/debug/pprof/profile?seconds=30'` with
// the token in an Authorization header (or curl -H, then pprof on the file). Operators and
// the testnet use them to see what a daemon spends its CPU and memory on.
func DebugRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // heap, goroutine, allocs, block, mutex, ...
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
