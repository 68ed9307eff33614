package node

import "sync"

// operatorState is what the operator's features keep on a node: the live preferences
// (prefs.go), the activity record (activity.go) and the garbage collector (gc.go). The
// zero value is ready.
type operatorState struct {
	prefs prefsState
	act   activity
	gc    gcState
	pause pauseState // sandbox.go: suspended tasks

	finished sync.Map // batch ID -> finishedStatus, for the dashboard
}
