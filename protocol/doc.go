// Package protocol is the wire contract of allforone: protocol IDs and topic names
// (versioned, under /allforone/<swarm>/), message types and their codec, size limits,
// validation and wire error codes. It has no goroutines and no host: a leaf package.
package protocol
