// Package testnet runs many allforone nodes on one machine: in-process clusters for Go
// tests (Cluster), and a harness over real `allforone daemon` processes (Harness) behind
// `allforone testnet`. Every node listens on loopback only.
package testnet
