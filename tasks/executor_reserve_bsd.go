//go:build unix && !linux

package tasks

// mapNoReserve: other unixes (macOS, the BSDs) do not commit anonymous private mappings
// until they are touched, so they need no flag.
const mapNoReserve = 0
