package client

import (
	"context"
	"strconv"
	"strings"
	"time"

	"allforone/node/internal/apitypes"
)

// Client methods for the test-only fault-injection API (node/api_dashboard.go). A daemon answers
// them only when it runs with --testnet-mode.

// Partition makes the daemon refuse and drop connections to the given peers.
func (c *Client) Partition(ctx context.Context, block []string) (apitypes.TestingPeers, error) {
	var v apitypes.TestingPeers
	return v, c.Post(ctx, "/api/v1/testing/partition", apitypes.PartitionRequest{Block: block}, &v)
}

// Heal lifts every block and dials the given full multiaddrs back.
func (c *Client) Heal(ctx context.Context, connect []string) (apitypes.TestingPeers, error) {
	var v apitypes.TestingPeers
	return v, c.Post(ctx, "/api/v1/testing/heal", apitypes.HealRequest{Connect: connect}, &v)
}

// Blocked lists the peers the daemon blocks.
func (c *Client) Blocked(ctx context.Context) (apitypes.TestingPeers, error) {
	var v apitypes.TestingPeers
	return v, c.Get(ctx, "/api/v1/testing/blocked", &v)
}

// SetSlow adds d to every task the daemon runs (0: normal speed).
func (c *Client) SetSlow(ctx context.Context, d time.Duration) error {
	return c.Post(ctx, "/api/v1/testing/slow", apitypes.SlowRequest{DelayMS: d.Milliseconds()}, nil)
}

// Held lists the tasks of a batch whose results the daemon holds.
func (c *Client) Held(ctx context.Context, batchID string) ([]int, error) {
	var v apitypes.TestingHeld
	return v.Tasks, c.Get(ctx, "/api/v1/testing/held/"+batchID, &v)
}

// StewardTasks returns the daemon's steward view of every task of a batch, with the holders'
// peer IDs for the tasks in withHolders; it fails when the daemon is not one of the batch's
// stewards.
func (c *Client) StewardTasks(ctx context.Context, batchID string, withHolders ...int) (apitypes.TestingTasks, error) {
	path := "/api/v1/testing/tasks/" + batchID
	if len(withHolders) > 0 {
		s := make([]string, len(withHolders))
		for i, t := range withHolders {
			s[i] = strconv.Itoa(t)
		}
		path += "?holders=" + strings.Join(s, ",")
	}
	var v apitypes.TestingTasks
	return v, c.Get(ctx, path, &v)
}
