package node

import "net/http"

// dashboardRoutes registers the dashboard's data endpoints and the metrics endpoint.
func (n *Node) dashboardRoutes(mux *http.ServeMux) {}
