package apitypes

// TestingPeers answers the partition, heal and blocked endpoints.
type TestingPeers struct {
	Blocked   []string `json:"blocked"`             // peers blocked now
	Connected []string `json:"connected,omitempty"` // heal: peers dialled back successfully
}

// SlowRequest is the body of POST /api/v1/testing/slow.
type SlowRequest struct {
	DelayMS int64 `json:"delay_ms"` // added to every task this node runs; 0 is normal speed
}

// TestingSlow answers POST /api/v1/testing/slow.
type TestingSlow struct {
	DelayMS int64 `json:"delay_ms"`
}

// TestingHeld answers GET /api/v1/testing/held/{batch}: the tasks whose results this node
// holds (stored and acknowledged, not merely known to a steward).
type TestingHeld struct {
	BatchID string `json:"batch_id"`
	Tasks   []int  `json:"tasks"`
}

// TestingTasks answers GET /api/v1/testing/tasks/{batch}: this node's steward view of every
// task, when it is one of the batch's stewards.
type TestingTasks struct {
	BatchID     string       `json:"batch_id"`
	Redundancy  int          `json:"redundancy"`
	Replication int          `json:"replication"`
	Tasks       []TaskCounts `json:"tasks"`
}

// TaskCounts is one task as a steward sees it.
type TaskCounts struct {
	Status  string `json:"status"`  // open, accepted or failed
	Results int    `json:"results"` // result records: completed executions, one per executor
	Leases  int    `json:"leases"`  // leases granted: executions started
	Lost    int    `json:"lost"`    // leases that went back to the pool without a result
	Holders int    `json:"holders"` // peers that acknowledged storing the accepted result
	// HolderIDs are those peers, for the tasks named in the request's holders parameter.
	HolderIDs []string `json:"holder_ids,omitempty"`
}

// PartitionRequest is the body of POST /api/v1/testing/partition.
type PartitionRequest struct {
	Block []string `json:"block"` // peer IDs to refuse and disconnect
}

// HealRequest is the body of POST /api/v1/testing/heal.
type HealRequest struct {
	// Connect are full multiaddrs (with /p2p/<peer ID>) to dial once the blocks are lifted:
	// the peers of the other side, where they listen now.
	Connect []string `json:"connect,omitempty"`
}
