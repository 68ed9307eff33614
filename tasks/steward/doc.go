// Package steward is the deterministic core of a batch's steward: who leads, what to
// grant, what to copy to whom, where to store accepted results, whom to trust and whom to
// block. It wraps the scheduling state machine (tasks.BatchState) as etcd-io/raft's core
// wraps its log: the node steps inputs into it (Step) and then takes one output value
// (Ready) and carries it out.
//
// Inputs are values: a worker's lease request, renewal, return or completion (its records
// already verified), a holder's acknowledgement of stored results, a state copy from
// another steward, the answer to a pull, a membership view (placement.View: who is live,
// who left when), and a tick carrying the time. The time comes in with every input; the
// core never reads a clock, starts a goroutine or does I/O.
//
// The output, Ready, says what to do: the replies to send (some only once this Ready's
// network effects are done), the task states to persist, the state copies to send to each
// steward, the results to store on each holder, the stewards to pull state from, the
// verdicts on executors for the trust records, the peers to block, why the batch waits,
// and what to log.
//
// Roles follow the placement rule. Without Config.Fence, this node acts as primary while
// its view says it is the closest live steward. Taking the role over, it pulls the other
// stewards' copies first and parks requests until they are merged; losing it (a partition
// heals, a closer member returns), it hands its whole state to the new primary, so two
// stewards that both granted leases converge. A finished batch does neither: its outcomes
// are final and reached the other stewards from the primary that decided them. To a
// steward that returns to a finished batch's set the primary sends a digest, one hash per
// task (Copy.Digest, protocol/README.md section 10.13), instead of the whole state: the
// steward answers with the tasks it has another state of (DigestQuery) and the two
// exchange just those. Merging is a union (tasks.BatchState.Merge): copies may arrive
// twice, late or out of order.
//
// With Config.Fence (fence.go, protocol/README.md section 10.12) the primary holds a lease
// that a strict majority of the batch's voting stewards granted, with an epoch that every
// grant, copy and store carries; a decision counts once a majority acknowledged it, and a
// stale epoch is refused, so two primaries never decide a task two ways. A driver that sets
// Fence carries votes (Ready.Votes out, VoteRequest and VoteAnswer in), persists
// Ready.Promise before it sends anything of that Ready and restores it in Fence.Promise,
// puts Copy.Epoch, Store.Epoch, Reply.Epoch and LeaseGrant.epoch on the wire, and steps
// StateCopy.Epoch, Pulled.Epoch and Stored.Epoch back in. A Lookup input (placement.Lookup)
// makes the stewards the K closest servers a DHT lookup found instead of the closest of the
// peers this node is connected to; NOT_STEWARD and FENCED hints then carry the hinted
// peer's addresses. Steward.Promise and Steward.Epoch say where the node stands.
//
// The golden traces in testdata/ show the core at work; trace_test.go documents their
// commands.
package steward
