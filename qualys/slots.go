package qualys

import (
	"context"
	"sync"
)

// heldSlot is a concurrency slot a caller holds (HoldSlot), carried by a
// context.
type heldSlot struct {
	st   *apiState
	once sync.Once
}

type heldSlotKey struct{}

// HoldSlot waits for one of the concurrency slots the client allows on an
// API path (see Concurrency) and holds it until release is called. Calls
// to that path made with the returned context use the held slot instead of
// taking another one, so a caller that starts a piece of work only once it
// holds a slot (a pipeline fanning out detection calls) is paced by the
// client's own limit, learned from the server and shared with every other
// call of the client, with no second semaphore of its own. The calls made
// with the context must not overlap (one at a time, as an iterator's pages
// are); calls to other paths take their own slots as usual. release is
// safe to call more than once. The error is the context's when it ends
// first.
func (c *Client) HoldSlot(ctx context.Context, api string) (context.Context, func(), error) {
	st := c.api(api)
	if err := st.gate.acquire(ctx); err != nil {
		return ctx, func() {}, err
	}
	h := &heldSlot{st: st}
	release := func() { h.once.Do(st.gate.release) }
	return context.WithValue(ctx, heldSlotKey{}, h), release, nil
}

// take takes one of the API's slots for one attempt, or uses the slot the
// context holds for this API; release gives it back (a no-op for a held
// slot, which its holder releases).
func (s *apiState) take(ctx context.Context) (release func(), err error) {
	if h, _ := ctx.Value(heldSlotKey{}).(*heldSlot); h != nil && h.st == s {
		return func() {}, nil
	}
	if err := s.gate.acquire(ctx); err != nil {
		return nil, err
	}
	return s.gate.release, nil
}
