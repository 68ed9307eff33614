package node

import (
	"allforone/node/internal/api"
	"allforone/node/internal/operator"
)

// The JSON bodies of the local API. The CLI prints them as they are with --json.

// IDInfo answers GET /api/v1/id.
type IDInfo struct {
	PeerID  string   `json:"peer_id"`
	Addrs   []string `json:"addrs"` // full multiaddrs ending in /p2p/<peer_id>
	Swarm   string   `json:"swarm"`
	Private bool     `json:"private"`
	Version string   `json:"version"`
	API     string   `json:"api"`
	// Reachability is "public", "private" (peers cannot dial it: behind a NAT) or
	// "unknown" (AutoNAT has no verdict yet; on a LAN or loopback it never has one).
	Reachability string `json:"reachability"`
	// DHTServer: the node serves the DHT, so others count it as a steward and result
	// holder. A node others cannot dial does not.
	DHTServer bool `json:"dht_server"`
	// Relays are the peer IDs of the relays this node has a reservation on.
	Relays []string `json:"relays"`
}

// PeerInfo is one element of GET /api/v1/peers.
type PeerInfo struct {
	PeerID    string   `json:"peer_id"`
	Addrs     []string `json:"addrs"`
	Direction string   `json:"direction"` // inbound or outbound
	LatencyMS float64  `json:"latency_ms,omitempty"`
	Agent     string   `json:"agent,omitempty"`
	// Relayed: every connection to the peer goes through a relay (limited in time and
	// bytes; no work flows over it). Direct once hole punching succeeds.
	Relayed bool `json:"relayed,omitempty"`
	// Incompatible is set when the peer speaks allforone protocols but none of this node's
	// versions (or only another swarm's); IncompatibleReason says why and what to do.
	Incompatible       bool   `json:"incompatible,omitempty"`
	IncompatibleReason string `json:"incompatible_reason,omitempty"`
}

// Health answers GET /api/v1/health.
type Health struct {
	OK               bool    `json:"ok"`
	PeerID           string  `json:"peer_id"`
	ConnectedPeers   int     `json:"connected_peers"`
	RoutingTableSize int     `json:"routing_table_size"`
	KnownPeers       int     `json:"known_peers"` // in the routing table or connected
	TopicPeers       int     `json:"topic_peers"`
	UptimeSeconds    float64 `json:"uptime_seconds"`
	// DataLoss is what the datastore had lost when the daemon started (a truncated or
	// damaged log, or a datastore replaced by `allforone repair`); absent when nothing was.
	DataLoss *DataLoss `json:"data_loss,omitempty"`
}

// APIError is the body of every API error response.
type APIError = api.Error

// MaxSubmitJSON bounds the JSON body of POST /api/v1/batches (node/internal/api).
const MaxSubmitJSON = api.MaxSubmitJSON

// What the node is doing and has just done (operator.Record keeps it).
type (
	// Activity is what the node is doing and has just done.
	Activity = operator.Activity
	// RunningTask is a task running on this node now.
	RunningTask = operator.RunningTask
	// RecentResult is a task this node ran.
	RecentResult = operator.RecentResult
	// ThroughputPoint counts the tasks this node finished in one bucket of time.
	ThroughputPoint = operator.ThroughputPoint
)
