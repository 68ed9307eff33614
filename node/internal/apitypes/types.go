// Package apitypes holds the JSON bodies of the node's local API: what the server answers
// and what node/internal/client decodes. It has no behaviour beyond formatting a few of
// them; the node fills them in.
package apitypes

import (
	"time"

	"allforone/node/internal/config"
	"allforone/node/internal/operator"
	"allforone/node/internal/store"
	"allforone/tasks/steward"
)

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
	DataLoss *store.DataLoss `json:"data_loss,omitempty"`
}

// Dashboard is everything the dashboard page shows, in one answer.
type Dashboard struct {
	Node     IDInfo             `json:"node"`
	Health   Health             `json:"health"`
	Peers    []PeerInfo         `json:"peers"`
	Batches  []DashBatch        `json:"batches"`
	Activity operator.Activity  `json:"activity"`
	Why      operator.WhyReport `json:"why"`
	Prefs    PrefsInfo          `json:"prefs"`
	Usage    DiskUsage          `json:"usage"`
	Time     time.Time          `json:"time"`
}

// DashBatch is a batch with its progress, when a steward answered.
type DashBatch struct {
	BatchInfo
	Status      *BatchStatus `json:"status,omitempty"`
	StatusError string       `json:"status_error,omitempty"`
}

// PrefsInfo is the preferences in force with the two that live at the top of the config.
type PrefsInfo struct {
	config.Prefs
	Slots           int `json:"slots"`
	MaxTaskMemoryMB int `json:"max_task_memory_mb"`
}

// DiskUsage is what blobs and results take in the datastore.
type DiskUsage struct {
	BlobBytes   int64     `json:"blob_bytes"`
	Blobs       int       `json:"blobs"`
	ResultBytes int64     `json:"result_bytes"` // the records; outputs are blobs
	Results     int       `json:"results"`
	QuotaBytes  int64     `json:"quota_bytes"` // 0: no quota
	Measured    time.Time `json:"measured"`
}

// Total is the bytes that count against the quota.
func (u DiskUsage) Total() int64 { return u.BlobBytes + u.ResultBytes }

// Bodies whose types belong to the packages that make them.
type (
	// WhyReport answers GET /api/v1/why (operator.WhyReport).
	WhyReport = operator.WhyReport
	// WaitReason is one reason a batch cannot progress (steward.WaitReason).
	WaitReason = steward.WaitReason
)

// BlobInfo answers POST /api/v1/blobs.
type BlobInfo struct {
	CID  string `json:"cid"`
	Size int64  `json:"size"`
}

// ConnectRequest is the body of POST /api/v1/peers/connect: a full multiaddr ending in
// /p2p/<peer ID>, or a bare peer ID to look up in the swarm's DHT.
type ConnectRequest struct {
	Target string `json:"target"`
}
