// Package node is the allforone daemon as a library. A Node owns the libp2p host, the
// Kademlia DHT, gossipsub, the datastore under the data dir and the local control API.
//
// Life cycle: New checks the config and loads the identity and does nothing else; Start
// opens the datastore, starts the host, the DHT, gossipsub, the bootstrap loop and the API;
// Close stops them in reverse order, waits for every goroutine and is safe to call twice.
// A Close on a running node first drains it (worker.go): leases handed back, steward state
// and held results handed over. A node whose datastore turns out corrupt while it runs
// takes no more work and closes Failed (Err says why); its owner closes it (node.go).
//
// Roles (the rule is tasks/placement; internal/membership gathers its inputs): the
// stewards of a batch and the holders of a result are the swarm members closest to its ID
// that serve the DHT; a node others cannot dial (internal/reach: AutoNAT, relays, hole
// punching) serves none and takes no role, but computes. A holder that left still counts for
// repair_grace, since a restarting node comes back with its data, as long as two copies of
// the result stay live.
//
// Stewarding (steward.go): the decisions are tasks/steward's; one goroutine per stewarded
// batch feeds its core and carries out what it decides (steward_loop.go). A finished batch's
// state stays on disk, dormant, from a start until something needs it (dormant.go). Under
// primary_leases the stewards elect one fenced primary (steward_fence.go) and find each
// other by a DHT lookup of the batch ID (steward_lookup.go).
//
// Peers (stream.go): every request a peer sends is checked against the wire contract
// (protocol.Validate*) before its handler sees it, and answered BAD_REQUEST with the field
// that is wrong if it breaks it. Requests to peers go through the typed clients of package
// protocol, which check every answer, over a protocol.Caller: libp2p streams, or what
// WithCaller gives.
//
// Subsystems with no Node in them are packages under internal/, each given what it needs
// through small interfaces defined where they are used: config (Config, its presets, prefs
// and the one table of settings), store (the data dir, its one schema file of every file
// name and datastore key, the datastore, the checks of repair), p2p (host, DHT, gossipsub,
// gater, scoring, rate limits, identity and swarm keys, compatibility), reach (NAT),
// rendezvous (the public DHT), membership (the members as a placement view), trust (trust
// records), operator (schedule, CPU, battery, why, activity), power, sandbox (the runner
// pool and the pause of running tasks), durable (the sync points that tell a lost log tail
// from a crash), gc (garbage collection, asking the node through gc.Node), metrics
// (counters, and gauges over metrics.State), submit (checking a submission and building its
// manifest), api (the local API's HTTP server), apitypes (its JSON bodies) and client (its
// client). Every log line carries node=<id> and sub=<subsystem>.
//
// Files here, one subsystem each: node.go (New, Start, Close), exports.go (the names of the
// internal packages that cmd/ and testnet/ use, and Init), p2p.go (DHT, pubsub, peer events,
// membership), bootstrap.go (bootstrap, reachability, connect), stream.go (the peer
// protocols and blobs), batches.go (known batches, announcements, waiting reasons),
// submit.go (submission and status), steward.go, steward_state.go, steward_loop.go,
// steward_fence.go, steward_lookup.go and dormant.go (the steward driver),
// worker.go (the task loop, the sandbox's calls, drain), results.go, fetch.go and repair.go
// (holding, fetching and re-replicating results, and fetching again what a datastore lost),
// gc.go (running garbage collection, and the node's side of gc.Node), operator.go (prefs,
// why, trust, the metrics' view), api.go and api_dashboard.go (the local API's routes).
//
// Data dir layout (internal/store/schema.go):
//
//	identity.key   the node's Ed25519 private key (base64 protobuf, mode 0600)
//	config.json    the node's Config
//	swarm.key      the pre-shared key of a private swarm (optional)
//	api.token      the bearer token of the local API (mode 0600)
//	api            host:port of the running daemon's API (removed on close)
//	datastore/     the embedded key-value store (pebble): DHT records, blobs, state
//	  allforone-synced.json  the last sync point recorded (internal/durable)
//	  allforone-corrupt.json a corruption found while running
//	version        the data dir's format version, DataDirVersion
//	backups/       copies of the data dir made before upgrading its format, and
//	               datastores moved aside by `allforone repair --move-aside`
package node
