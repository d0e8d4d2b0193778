package phone

import "sync"

// group owns a set of goroutines: Go starts one unless the group is
// closing, Close stops new ones and joins the running ones (style pattern
// 5). A goroutine refused because the owner is closing is never started,
// so no WaitGroup.Add races the Wait.
type group struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	closed bool
}

// Go runs f in a goroutine of the group; it returns false, without running
// f, once Close has begun.
func (g *group) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// Close refuses new goroutines and waits for the running ones. It is
// idempotent and may be called from several goroutines.
func (g *group) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
