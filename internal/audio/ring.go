package audio

import (
	"sync/atomic"
)

// ring is a single-producer, single-consumer ring buffer of samples. One
// goroutine (or miniaudio's audio thread) writes and one reads; neither
// ever blocks or takes a lock. The positions only grow; the capacity is a
// power of two, so a position maps to a slot with a mask.
type ring struct {
	buf  []int16
	size uint64
	r    atomic.Uint64 // next sample to read; written by the consumer only
	w    atomic.Uint64 // next sample to write; written by the producer only
}

// newRing makes a ring that holds n samples (at least 1).
func newRing(n int) *ring {
	n = max(n, 1)
	return &ring{buf: make([]int16, n), size: uint64(n)}
}

// capacity is the number of samples the ring holds.
func (r *ring) capacity() int { return len(r.buf) }

// readable is the number of samples waiting to be read.
func (r *ring) readable() int { return int(r.w.Load() - r.r.Load()) }

// writable is the number of free slots.
func (r *ring) writable() int { return len(r.buf) - r.readable() }

// write copies as many samples of p as fit and returns how many it took.
// Producer side only.
func (r *ring) write(p []int16) int {
	w := r.w.Load()
	free := len(r.buf) - int(w-r.r.Load())
	n := min(len(p), free)
	for i := 0; i < n; {
		at := int((w + uint64(i)) % r.size)
		i += copy(r.buf[at:], p[i:n])
	}
	r.w.Store(w + uint64(n))
	return n
}

// read copies up to len(p) waiting samples into p and returns how many.
// Consumer side only.
func (r *ring) read(p []int16) int {
	rd := r.r.Load()
	avail := int(r.w.Load() - rd)
	n := min(len(p), avail)
	for i := 0; i < n; {
		at := int((rd + uint64(i)) % r.size)
		i += copy(p[i:n], r.buf[at:])
	}
	r.r.Store(rd + uint64(n))
	return n
}

// skip drops up to n waiting samples, the oldest first, and returns how
// many. Consumer side only.
func (r *ring) skip(n int) int {
	rd := r.r.Load()
	n = min(n, int(r.w.Load()-rd))
	if n <= 0 {
		return 0
	}
	r.r.Store(rd + uint64(n))
	return n
}
