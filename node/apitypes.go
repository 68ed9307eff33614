package node

import (
	"allforone/node/internal/api"
	"allforone/node/internal/apitypes"
	"allforone/node/internal/client"
	"allforone/node/internal/operator"
	"allforone/node/internal/submit"
)

// The JSON bodies of the local API are package apitypes' (node/internal/apitypes), and its
// client is package client's; these are their names for the commands and the testnet. The
// CLI prints the bodies as they are with --json.

// Client talks to a running daemon's local API (client.Client).
type Client = client.Client

// StatusError is an API answer with an error status (client.StatusError).
type StatusError = client.StatusError

// ErrDaemonNotRunning means no daemon's API could be reached for a data dir.
var ErrDaemonNotRunning = client.ErrDaemonNotRunning

// NewClient returns a client for the daemon that runs on dataDir.
func NewClient(dataDir string) (*Client, error) { return client.New(dataDir) }

// NewClientAt returns a client for the API at host:port with the given token.
func NewClientAt(addr, token string) *Client { return client.NewAt(addr, token) }

// Bodies of the local API.
type (
	IDInfo           = apitypes.IDInfo           // GET /api/v1/id
	PeerInfo         = apitypes.PeerInfo         // one of GET /api/v1/peers
	Health           = apitypes.Health           // GET /api/v1/health
	SubmitRequest    = apitypes.SubmitRequest    // POST /api/v1/batches
	SubmitInput      = apitypes.SubmitInput      // one input of a SubmitRequest
	SubmitResult     = apitypes.SubmitResult     // the answer to a submission
	BatchStatus      = apitypes.BatchStatus      // a batch's progress
	TaskFailure      = apitypes.TaskFailure      // why one task failed
	PeerStatus       = apitypes.PeerStatus       // one peer's share of a batch
	BatchInfo        = apitypes.BatchInfo        // one line of `allforone batches`
	FetchReport      = apitypes.FetchReport      // how a fetch of results went
	OutputNames      = apitypes.OutputNames      // how a batch's output files are named
	OutputName       = apitypes.OutputName       // the names of one input's outputs
	Dashboard        = apitypes.Dashboard        // GET /api/v1/dashboard
	DashBatch        = apitypes.DashBatch        // a batch on the dashboard
	PrefsInfo        = apitypes.PrefsInfo        // GET /api/v1/prefs
	DiskUsage        = apitypes.DiskUsage        // what blobs and results take
	PartitionRequest = apitypes.PartitionRequest // POST /api/v1/testing/partition
	HealRequest      = apitypes.HealRequest      // POST /api/v1/testing/heal
	TestingPeers     = apitypes.TestingPeers     // the partition, heal and blocked answers
	SlowRequest      = apitypes.SlowRequest      // POST /api/v1/testing/slow
	TestingSlow      = apitypes.TestingSlow      // its answer
	TestingHeld      = apitypes.TestingHeld      // GET /api/v1/testing/held/{batch}
	TestingTasks     = apitypes.TestingTasks     // GET /api/v1/testing/tasks/{batch}
	TaskCounts       = apitypes.TaskCounts       // one task as a steward sees it
	BlobInfo         = apitypes.BlobInfo         // POST /api/v1/blobs
	ConnectRequest   = apitypes.ConnectRequest   // POST /api/v1/peers/connect
)

// KindNoQuorum is a failed task's kind when its executions succeeded but disagreed.
const KindNoQuorum = apitypes.KindNoQuorum

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

// ErrBadSubmission means a submission was refused for what it contains.
var ErrBadSubmission = submit.ErrBad

// CheckSubmission checks everything in req that can be checked without its blobs — the
// task count (by arithmetic), limits, R and K, names, inline sizes — as Submit will, so a
// client can refuse a bad batch before it uploads anything (submit.Check).
func CheckSubmission(req SubmitRequest) error { return submit.Check(req) }
