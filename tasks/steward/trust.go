package steward

import (
	"fmt"
	"time"
)

// Trust records: how a peer's results fared against the quorum in the batches this node
// stewarded. A run of consecutive valid results (CV) earns a peer single-replica tasks
// under adaptive replication; one wrong result resets the run, and a peer that keeps lying
// is distrusted: no more leases, and it is blocked for a while. The node keeps the records
// (one per peer, across batches) and applies the core's Verdicts to them with Apply.

// DistrustAfter wrong results, when they are over a tenth of a peer's record, make it a
// liar.
const DistrustAfter = 2

// TrustRecord is one peer's record.
type TrustRecord struct {
	PeerID      string    `json:"peer_id"`
	Agreed      int       `json:"agreed"`      // results equal to the accepted output
	Disagreed   int       `json:"disagreed"`   // successful results that differed from it
	Consecutive int       `json:"consecutive"` // valid results since the last wrong one (BOINC's CV)
	LastWrong   time.Time `json:"last_wrong,omitempty"`
}

// Distrusted reports whether the record marks a liar.
func (r TrustRecord) Distrusted() bool {
	return r.Disagreed >= DistrustAfter && r.Disagreed*10 > r.Agreed
}

// Apply counts one verdict at now; it reports whether the peer lied.
func (r *TrustRecord) Apply(v Verdict, now time.Time) (lied bool) {
	if v.Agreed {
		r.Agreed++
		r.Consecutive++
		return false
	}
	r.Disagreed++
	r.Consecutive = 0
	r.LastWrong = now
	return true
}

// Refusal is what steward (its short ID) tells a distrusted peer about why it gets no
// leases: the text goes to the peer's operator through `allforone why`. It is "" when
// the record is not a liar's.
func (r TrustRecord) Refusal(steward string) string {
	if !r.Distrusted() {
		return ""
	}
	return fmt.Sprintf("steward %s saw %d of this node's results disagree with the quorum (and %d agree)",
		steward, r.Disagreed, r.Agreed)
}
