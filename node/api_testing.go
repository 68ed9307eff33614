package node

import "net/http"

// testingRoutes registers the test-only fault-injection API (partitions, slow nodes). It
// is served only when Config.TestingAPI is set, which only testnets do.
func (n *Node) testingRoutes(mux *http.ServeMux) {
	if !n.cfg.TestingAPI {
		return
	}
}
