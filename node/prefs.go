package node

// Prefs are the volunteer's preferences: how much of the machine the node may use and when.
type Prefs struct{}

// validate checks the preferences and says what to fix.
func (p *Prefs) validate() error { return nil }

// pauseReason says why the node must not start new tasks now ("" when it may).
func (n *Node) pauseReason() string { return "" }
