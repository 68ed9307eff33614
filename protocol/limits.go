package protocol

import "time"

// The numbers of the wire contract (README.md sections 4.1 and 15). spec_test.go checks
// them against the README's tables.

// Size limits, enforced on the length prefix before a message body is read.
const (
	// MaxAnnouncement bounds a gossipsub announcement: the manifest limit plus framing.
	MaxAnnouncement = 64<<10 + 1024
	// MaxStewardMessage bounds a steward request or response. A Complete carries outputs,
	// and senders split them so that one message stays under MaxOutputsPerMessage.
	MaxStewardMessage = 80 << 20
	// MaxResultMessage bounds a result request or response.
	MaxResultMessage = 80 << 20
	// MaxBlobRequest bounds a blob request or a blob response header.
	MaxBlobRequest = 4 << 10
	// MaxOutputsPerMessage is the outputs a sender puts in one message before it starts
	// another; one output larger than this travels alone.
	MaxOutputsPerMessage = 8 << 20
	// MaxManifestSize bounds an encoded manifest, wherever it travels: 64 KiB.
	MaxManifestSize = 64 << 10
	// MaxBlobSize bounds one blob (a module, an input, an output): 256 MiB.
	MaxBlobSize = 256 << 20
)

// Counts and lengths that receivers check (Validate* functions).
const (
	// MaxTasks bounds the tasks of one batch, and so every list of task indexes.
	MaxTasks = 1 << 20
	// MaxErrorKind bounds ResultRecord.error, the failure kind, in bytes.
	MaxErrorKind = 64
	// MaxFailureDetail and MaxFailureStderr are what a receiver keeps of a FailureNote:
	// the first MaxFailureDetail bytes of its detail and the last MaxFailureStderr bytes
	// of its stderr.
	MaxFailureDetail = 256
	MaxFailureStderr = 512
	// MaxResultsPerMessage bounds the records of a Complete, the results of a
	// StoreResults and of a FetchResults answer; senders split longer lists.
	MaxResultsPerMessage = 4096
	// MaxRecordsPerTask bounds the result records (and failure notes) of one task in a
	// TaskState or StoredResult: executions stop at max_replicas (at most 32) per steward,
	// so even the union of many partitioned stewards' copies stays far below it.
	MaxRecordsPerTask = 1024
	// MaxTasksPerDelta is how many task states a sender puts in one StateDelta before it
	// starts another (a rule for senders: receivers accept up to MaxTasks).
	MaxTasksPerDelta = 4096
	// MaxLeasesPerGrant bounds the leases of one LeaseGrant.
	MaxLeasesPerGrant = 64
	// MaxListedBatches bounds the manifests of one BatchList.
	MaxListedBatches = 64
	// MaxListedFailures bounds BatchStatus.failures; failures_omitted counts the rest.
	MaxListedFailures = 1000
	// MaxRedirects is how many NOT_STEWARD hints a client follows for one request.
	MaxRedirects = 3
	// SignatureSize is the length of every signature on the wire: Ed25519's 64 bytes.
	SignatureSize = 64
	// MaxHintAddrs bounds Error.steward_addrs; MaxAddrSize bounds each of them.
	MaxHintAddrs = 16
	MaxAddrSize  = 1024
	// MaxStewardSet bounds PrimaryVote.stewards: a batch has at most 16 stewards (the
	// manifest's replication), and a candidate may name a few more.
	MaxStewardSet = 64
)

// Time rules of the contract.
const (
	// MaxClockSkew bounds how far in the future an announced manifest's created_at_ms
	// may be: later ones are ignored.
	MaxClockSkew = 5 * time.Minute
	// LeaseSlack is added to twice a task's time limit to make its lease duration.
	LeaseSlack = 10 * time.Second
	// MaxPrimaryLease bounds PrimaryVote.duration_ms: a voter promises no longer.
	MaxPrimaryLease = time.Minute
)

// LeaseDuration is how long a lease on a task with the given time limit holds from its
// grant or renewal: twice the limit, plus LeaseSlack to fetch the module and the input.
func LeaseDuration(timeout time.Duration) time.Duration { return 2*timeout + LeaseSlack }
