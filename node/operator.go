package node

import (
	"sync"

	"allforone/node/internal/operator"
)

// operatorState is what the operator's features keep on a node: the live preferences
// (prefs.go), the activity record (operator.Record) and the garbage collector (gc.go). The
// zero value is ready.
type operatorState struct {
	prefs prefsState
	act   operator.Record
	gc    gcState
	pause pauseState // sandbox.go: suspended tasks

	finished sync.Map // batch ID -> finishedStatus, for the dashboard
}
