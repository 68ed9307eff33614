package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Announcements stay one gossip message per batch (DESIGN.md: pubsub carries
// announcements only). What a node keeps of them is bounded: a batch's deadline may be at
// most MaxDeadline after the announcement, and one author may have at most AuthorQuota
// batches open (announced, not past their deadline, not known done) at a node. The node's
// topic validator rejects the rest with the error Admit gives, so an author cannot fill
// every node's memory and every worker's search with batches.

// Announcement bounds.
const (
	MaxDeadline = 7 * 24 * time.Hour
	AuthorQuota = 64
)

// Sentinels of Admit's errors.
var (
	ErrDeadline = errors.New("batch deadline out of bounds")
	ErrQuota    = errors.New("author quota of open batches reached")
)

// Announcements is what one node admitted of the batch announcements. It is not safe for
// concurrent use.
type Announcements struct {
	// Quota overrides AuthorQuota when > 0.
	Quota    int
	byAuthor map[peer.ID]map[cid.Cid]time.Time // author -> batch -> deadline
}

// Admit decides on an announcement of batch by author with deadline, seen at now. A batch
// admitted already is admitted again (gossip delivers twice).
func (a *Announcements) Admit(author peer.ID, batch cid.Cid, deadline, now time.Time) error {
	if !deadline.After(now) {
		return fmt.Errorf("batch %s: %w: its deadline %s has passed", batch, ErrDeadline, deadline.UTC().Format(time.RFC3339))
	}
	if deadline.Sub(now) > MaxDeadline {
		return fmt.Errorf("batch %s: %w: its deadline is %s away, at most %s is allowed: submit it with a shorter --deadline", batch, ErrDeadline, deadline.Sub(now).Round(time.Minute), MaxDeadline)
	}
	if a.byAuthor == nil {
		a.byAuthor = make(map[peer.ID]map[cid.Cid]time.Time)
	}
	mine := a.byAuthor[author]
	if _, ok := mine[batch]; ok {
		return nil
	}
	for b, d := range mine {
		if !d.After(now) {
			delete(mine, b)
		}
	}
	quota := a.Quota
	if quota <= 0 {
		quota = AuthorQuota
	}
	if len(mine) >= quota {
		return fmt.Errorf("batch %s from %s: %w: it has %d open batches here (at most %d): wait until one finishes or passes its deadline", batch, author, ErrQuota, len(mine), quota)
	}
	if mine == nil {
		mine = make(map[cid.Cid]time.Time)
		a.byAuthor[author] = mine
	}
	mine[batch] = deadline
	return nil
}

// Done frees an author's quota of a batch that finished.
func (a *Announcements) Done(author peer.ID, batch cid.Cid) {
	delete(a.byAuthor[author], batch)
}

// Open is how many batches of author count against its quota at now.
func (a *Announcements) Open(author peer.ID, now time.Time) int {
	n := 0
	for _, d := range a.byAuthor[author] {
		if d.After(now) {
			n++
		}
	}
	return n
}
