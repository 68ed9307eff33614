// Package worker is the deterministic part of a worker and of how it finds work, as values
// and pure functions that both the node and the simulator (testnet/sim) run:
//
//   - how much work to ask for: BOINC's "N seconds of work" from the node's slots and an
//     estimate of a task's time (Capacity, Estimate);
//   - how long to wait when a steward has nothing: the worker long-polls (the steward parks
//     its request, LongPoll) and backs off exponentially with jitter once that comes back
//     empty (Backoff);
//   - where batches with open work are: the primary of a batch with open work keeps an
//     open-work record on the DHT servers closest to one of Buckets rendezvous keys (as a
//     provider record), and an idle worker asks those servers instead of polling every
//     batch it knows (OpenWorkKey, OpenTable, Pick);
//   - which batch announcements a node keeps: one gossip message per batch, with an upper
//     bound on its deadline and a quota of open batches per author (Announcements).
//
// Time and randomness come in as arguments; nothing here reads a clock, starts a
// goroutine or does I/O.
package worker
