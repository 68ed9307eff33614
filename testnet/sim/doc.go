// Package sim simulates a swarm that one machine cannot run: thousands of nodes in virtual
// time, running the real placement rule (tasks/placement), the real steward core
// (tasks/steward, with tasks.BatchState) and the real work-finding logic (tasks/worker),
// with everything between nodes simulated.
//
// The world: a discrete-event loop on a virtual clock (queue.go; nothing sleeps), links with
// latency from the two ends' places and a loss rate, a lost packet costing a TCP
// retransmission (net.go), Kademlia routing tables of
// k-buckets with iterative lookups over them (kad.go), NATed nodes that compute but serve
// no DHT and take no role, churn (nodes leave, most come back, some for good) and one
// partition that heals (churn.go). Who a steward believes is live is decided in one place
// (roles.go); who acts as primary is the core's to decide: with primary leases (the
// default here, Config.PrimaryLeases) the holder of a lease a majority of the stewards
// voted for, their votes carried as messages of their own (fence.go).
//
// What is simulated, not run: task execution (a task takes a time drawn from the node's
// speed), blobs (every node has them), signatures (records carry a placeholder signature
// and are not verified), the DHT's record and provider machinery other than open-work
// records, and connection management (a steward's connected peers are the members it
// looked up and the workers that talked to it in the last few minutes). A lookup is
// computed against the network as it is when it starts, and takes the virtual time its
// rounds of queries would.
//
// The same Config and seed give the same Report, event for event (wall time and memory
// aside).
package sim
