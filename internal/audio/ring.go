package audio

import (
	"sync/atomic"
)

// ring is a single-producer, single-consumer ring buffer of samples. One
// goroutine (or miniaudio's audio thread) writes and one reads; neither
// ever blocks or takes a lock. The positions only grow; the capacity is a
// power of two, so a position maps to a slot with a mask.
//
// The positions may live outside the ring (newRingOn): a device callback
// in C works the same ring (see cdevice.go).
type ring struct {
	buf  []int16
	size uint64
	r    *uint64 // next sample to read; written by the consumer only
	w    *uint64 // next sample to write; written by the producer only
}

// newRing makes a ring that holds n samples (at least 1).
func newRing(n int) *ring {
	return newRingOn(make([]int16, max(n, 1)), new(uint64), new(uint64))
}

// newRingOn makes a ring over buf with the positions at r and w.
func newRingOn(buf []int16, r, w *uint64) *ring {
	return &ring{buf: buf, size: uint64(len(buf)), r: r, w: w}
}

// capacity is the number of samples the ring holds.
func (r *ring) capacity() int { return len(r.buf) }

// readable is the number of samples waiting to be read.
func (r *ring) readable() int { return int(atomic.LoadUint64(r.w) - atomic.LoadUint64(r.r)) }

// writable is the number of free slots.
func (r *ring) writable() int { return len(r.buf) - r.readable() }

// write copies as many samples of p as fit and returns how many it took.
// Producer side only.
func (r *ring) write(p []int16) int {
	w := atomic.LoadUint64(r.w)
	free := len(r.buf) - int(w-atomic.LoadUint64(r.r))
	n := min(len(p), free)
	for i := 0; i < n; {
		at := int((w + uint64(i)) % r.size)
		i += copy(r.buf[at:], p[i:n])
	}
	atomic.StoreUint64(r.w, w+uint64(n))
	return n
}

// read copies up to len(p) waiting samples into p and returns how many.
// Consumer side only.
func (r *ring) read(p []int16) int {
	rd := atomic.LoadUint64(r.r)
	avail := int(atomic.LoadUint64(r.w) - rd)
	n := min(len(p), avail)
	for i := 0; i < n; {
		at := int((rd + uint64(i)) % r.size)
		i += copy(p[i:n], r.buf[at:])
	}
	atomic.StoreUint64(r.r, rd+uint64(n))
	return n
}

// skip drops up to n waiting samples, the oldest first, and returns how
// many. Consumer side only.
func (r *ring) skip(n int) int {
	rd := atomic.LoadUint64(r.r)
	n = min(n, int(atomic.LoadUint64(r.w)-rd))
	if n <= 0 {
		return 0
	}
	atomic.StoreUint64(r.r, rd+uint64(n))
	return n
}
