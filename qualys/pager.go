package qualys

import (
	"context"
	"fmt"

	"github.com/qualysbridge/qualysbridge/internal/retry"
)

// The listings of host assets, gateway assets and detections are all paged
// by record id in ascending order: each page holds the records after a
// cursor, and the service announces the cursor of the next page. idPager is
// that loop, written once: it resumes a page cut short after the last record
// delivered, refuses a cursor that does not advance, and bounds the pages
// announced without a record. The listers only say how to fetch one page.

// idPage is what fetching one page reported.
type idPage struct {
	// maxID is the largest record id delivered in the page (0: none).
	maxID int64
	// next is the cursor the service announced for the next page: the
	// next page holds the records with an id above it. 0 means maxID.
	next int64
	// more reports whether the service announced another page.
	more bool
	// stopped reports that the consumer ended the iteration.
	stopped bool
	// restart, for a page cut short, asks for it again from its start
	// rather than after maxID (its records did not come in id order, so
	// records below maxID may be missing; the lister skips those already
	// delivered).
	restart bool
}

// idPager runs one id-paged listing.
type idPager struct {
	c *Client
	// endpoint and action name the API in errors.
	endpoint, action string
	// what names a page in logs and errors ("host asset page").
	what string
	// cursorName is the service's name for the cursor ("lastId"), and
	// inclusive says that the service's cursor is the first id of the
	// next page (id_min) rather than the last id of this one.
	cursorName string
	inclusive  bool
	// fetch asks for the records with an id above after (0: from the
	// start) and streams them to the consumer.
	fetch func(ctx context.Context, after int64) (idPage, error)
	// onPage, if set, is called after each complete page with the cursor
	// to resume after it; returning false stops.
	onPage func(cursor int64, more bool) bool
}

// run pages from the cursor after until the service announces no more
// pages, the consumer stops, or an error.
func (p *idPager) run(ctx context.Context, after int64) error {
	resumes, empty := 0, 0
	for {
		pg, err := p.fetch(ctx, after)
		if pg.stopped {
			return nil
		}
		if err != nil {
			// A page cut short is asked for again after the last record
			// delivered: paging by id makes the resume exact.
			from := max(after, pg.maxID)
			if pg.restart {
				from = after
			}
			resume, err := p.c.resumeCut(ctx, err, &resumes, p.what, "after_id", from)
			if !resume {
				return err
			}
			after = from
			continue
		}
		next := pg.next
		if next == 0 {
			next = pg.maxID
		}
		// A cursor is checked before a checkpointing caller sees it, so
		// that it never saves one that would skip or repeat records.
		if pg.more {
			if pg.maxID == 0 {
				if empty++; empty > maxEmptyPages {
					return &Error{Endpoint: p.endpoint, Action: p.action, Message: fmt.Sprintf("%d pages in a row without a record although more are announced; stopping rather than paging without end", empty)}
				}
			} else {
				empty = 0
			}
			if next <= after || next < pg.maxID {
				shown := func(c int64) int64 {
					if p.inclusive {
						return c + 1
					}
					return c
				}
				return &Error{Endpoint: p.endpoint, Action: p.action, Message: fmt.Sprintf("pagination cursor does not advance (%s %d after %d, last record %d); stopping rather than looping", p.cursorName, shown(next), shown(after), pg.maxID)}
			}
		}
		if p.onPage != nil && !p.onPage(max(next, after), pg.more) {
			return nil
		}
		if !pg.more {
			return nil
		}
		after = next
	}
}

// resumeCut decides what follows a failed page or answer: it reports true
// when the failure is a body cut short (see resumable) and the retry budget
// allows asking again, after logging and waiting the backoff; otherwise it
// returns the error to give the caller (the context's error once it is
// done). Listing is safe to repeat, so resuming never duplicates a write.
func (c *Client) resumeCut(ctx context.Context, err error, resumes *int, what string, attrs ...any) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if !resumable(err) || *resumes >= c.cfg.MaxAttempts-1 {
		return false, err
	}
	*resumes++
	c.cfg.Logger.Warn("qualys: "+what+" cut; resuming", append(attrs, "resume", *resumes, "error", err)...)
	if err := retry.Sleep(ctx, c.cfg.Backoff(*resumes)); err != nil {
		return false, err
	}
	return true, nil
}

// consumer adapts an iterator's yield to the per-record callbacks of the
// decoders, remembering whether the consumer stopped so that a later error
// is not yielded to a loop that has already ended.
type consumer[T any] struct {
	yield   func(T, error) bool
	stopped bool
}

// put yields one record and reports whether to go on.
func (c *consumer[T]) put(v T) bool {
	if !c.yield(v, nil) {
		c.stopped = true
		return false
	}
	return true
}

// fail yields err, unless it is nil or the consumer has stopped.
func (c *consumer[T]) fail(err error) {
	if err != nil && !c.stopped {
		var zero T
		c.yield(zero, err)
	}
}
