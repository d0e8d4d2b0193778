package testbed

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Network impairment for the media tests. This kernel has no netem (see
// ENV.md §8), so impairment is built from two parts:
//
//	peer ──UDP──► [nftables: output hook, raw priority]
//	                 udp sport From, dport To  ──rewrite dport──► Via
//	              [nftables: input hook] numgen random mod 100 < Loss ─► drop
//	              Relay on Via: hold each datagram a random 0..Jitter
//	                 (so datagrams overtake each other) ──► To
//
// Steer rewrites the destination port without conntrack's NAT (a payload
// rewrite before conntrack sees the packet), so it also takes hold of a
// flow that is already running: a NAT redirect applies only to the first
// packet of a conntrack entry, and an RTP flow whose entry exists would
// never be redirected.

// Impairment is what a Relay does to the datagrams it forwards.
type Impairment struct {
	// Jitter is the largest extra delay: every datagram is held for a
	// uniformly random time in [0, Jitter], so later datagrams may
	// overtake earlier ones.
	Jitter time.Duration
	// Loss is the fraction of datagrams dropped by the relay (0..1).
	Loss float64
	// Seed makes the random delays and drops reproducible.
	Seed uint64
}

// RelayStats are a Relay's counters.
type RelayStats struct {
	// Received counts datagrams read on the relay's address.
	Received uint64
	// Dropped counts datagrams dropped for Impairment.Loss.
	Dropped uint64
	// Forwarded counts datagrams sent on to the target.
	Forwarded uint64
	// Reordered counts datagrams forwarded after one that was received
	// later than them.
	Reordered uint64
}

// Relay is a UDP relay on 127.0.0.1 that forwards every datagram it
// receives to one target after a random delay, from a socket of its own.
// Its goroutines end at Close (or cleanup).
type Relay struct {
	imp Impairment
	in  *net.UDPConn // where impaired traffic arrives
	out *net.UDPConn // connected to the target

	mu      sync.Mutex
	rng     *rand.Rand
	queue   delayQueue
	next    uint64 // arrival index of the next datagram
	maxSent uint64 // highest arrival index forwarded so far, plus one
	stats   RelayStats

	wake      chan struct{}
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// StartRelay starts a relay forwarding to target with the given
// impairment; it is closed at cleanup.
func StartRelay(t TB, target netip.AddrPort, imp Impairment) *Relay {
	t.Helper()
	r, err := NewRelay(target, imp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// NewRelay starts a relay forwarding to target; the caller closes it.
func NewRelay(target netip.AddrPort, imp Impairment) (*Relay, error) {
	if imp.Jitter < 0 || imp.Loss < 0 || imp.Loss > 1 {
		return nil, fmt.Errorf("testbed: relay: bad impairment %+v", imp)
	}
	in, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("testbed: relay: listen: %w", err)
	}
	out, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, net.UDPAddrFromAddrPort(target))
	if err != nil {
		in.Close()
		return nil, fmt.Errorf("testbed: relay: dial %s: %w", target, err)
	}
	r := &Relay{
		imp:  imp,
		in:   in,
		out:  out,
		rng:  rand.New(rand.NewPCG(imp.Seed, imp.Seed^0x9e3779b97f4a7c15)),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
	}
	r.wg.Add(2)
	go r.readLoop()
	go r.sendLoop()
	return r, nil
}

// Addr is where the relay receives the traffic to impair.
func (r *Relay) Addr() netip.AddrPort { return r.in.LocalAddr().(*net.UDPAddr).AddrPort() }

// SendAddr is the address the relay forwards from, as the target sees it.
func (r *Relay) SendAddr() netip.AddrPort { return r.out.LocalAddr().(*net.UDPAddr).AddrPort() }

// Stats returns the counters so far.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Close stops the relay, drops what it still holds and waits for its
// goroutines. It is idempotent.
func (r *Relay) Close() {
	r.closeOnce.Do(func() {
		close(r.stop)
		r.in.Close()
		r.out.Close()
		r.wg.Wait()
	})
}

func (r *Relay) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// readLoop takes datagrams in, drops some and queues the rest with their
// due time.
func (r *Relay) readLoop() {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := r.in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if r.stopped() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now()
		r.mu.Lock()
		r.stats.Received++
		idx := r.next
		r.next++
		if r.imp.Loss > 0 && r.rng.Float64() < r.imp.Loss {
			r.stats.Dropped++
			r.mu.Unlock()
			continue
		}
		var delay time.Duration
		if r.imp.Jitter > 0 {
			delay = time.Duration(r.rng.Int64N(int64(r.imp.Jitter) + 1))
		}
		heap.Push(&r.queue, delayed{due: now.Add(delay), idx: idx, data: append([]byte(nil), buf[:n]...)})
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// sendLoop forwards each queued datagram when it is due.
func (r *Relay) sendLoop() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		var wait time.Duration = -1
		var due []delayed
		now := time.Now()
		for r.queue.Len() > 0 {
			if d := r.queue[0].due.Sub(now); d > 0 {
				wait = d
				break
			}
			due = append(due, heap.Pop(&r.queue).(delayed))
		}
		r.mu.Unlock()
		for _, p := range due {
			if _, err := r.out.Write(p.data); err != nil {
				if r.stopped() {
					return
				}
				continue
			}
			r.mu.Lock()
			r.stats.Forwarded++
			if p.idx+1 < r.maxSent {
				r.stats.Reordered++
			}
			r.maxSent = max(r.maxSent, p.idx+1)
			r.mu.Unlock()
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-tc:
		}
		timer.Stop() // Go 1.23 timers: no stale tick after Stop
	}
}

// delayed is a datagram held by the relay.
type delayed struct {
	due  time.Time
	idx  uint64
	data []byte
}

// delayQueue is a min-heap of held datagrams by due time.
type delayQueue []delayed

func (q delayQueue) Len() int           { return len(q) }
func (q delayQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q delayQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)        { *q = append(*q, x.(delayed)) }
func (q *delayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// SteerOptions selects one UDP flow on loopback and where it goes instead.
type SteerOptions struct {
	// From is the sender's source port and To the destination port the
	// sender uses; only datagrams 127.0.0.1:From → 127.0.0.1:To match.
	From, To int
	// Via is the port the matching datagrams are delivered to instead
	// (a Relay's port).
	Via int
	// LossPercent drops this share of the steered datagrams (0-100) at
	// the input hook, where a drop is silent (at the output hook the
	// sender's sendto would fail with EPERM).
	LossPercent int
}

// Steering is an nftables table of its own that steers one flow; cleanup
// deletes it.
type Steering struct {
	// Table is the table's name (family ip).
	Table string
	dir   string
}

// SteerStats are the nftables counters of a Steering.
type SteerStats struct {
	// Steered counts datagrams whose destination was rewritten.
	Steered uint64
	// Dropped counts steered datagrams dropped for LossPercent.
	Dropped uint64
}

// Steer installs `table ip sptest_<random>` rewriting the destination port
// of the flow o selects, and dropping LossPercent of it; the table is
// deleted at cleanup. It needs root and nft.
func Steer(t TB, o SteerOptions) *Steering {
	t.Helper()
	if o.From < 1 || o.To < 1 || o.Via < 1 || o.From > 65535 || o.To > 65535 || o.Via > 65535 ||
		o.LossPercent < 0 || o.LossPercent > 100 {
		t.Fatalf("testbed: steer: bad options %+v", o)
	}
	s := &Steering{Table: fmt.Sprintf("sptest_%08x", rand.Uint32()), dir: Dir(t, "nft")}
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", s.Table)
	b.WriteString("\tcounter steered {}\n\tcounter dropped {}\n")
	// Priority raw (-300) runs before conntrack (-200): the rewrite is a
	// stateless payload change, not NAT.
	b.WriteString("\tchain steer {\n\t\ttype filter hook output priority raw; policy accept;\n")
	fmt.Fprintf(&b, "\t\tip saddr 127.0.0.1 ip daddr 127.0.0.1 udp sport %d udp dport %d counter name \"steered\" udp dport set %d\n",
		o.From, o.To, o.Via)
	b.WriteString("\t}\n")
	if o.LossPercent > 0 {
		b.WriteString("\tchain lose {\n\t\ttype filter hook input priority filter; policy accept;\n")
		fmt.Fprintf(&b, "\t\tip saddr 127.0.0.1 ip daddr 127.0.0.1 udp sport %d udp dport %d numgen random mod 100 < %d counter name \"dropped\" drop\n",
			o.From, o.Via, o.LossPercent)
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	file := filepath.Join(s.dir, "steer.nft")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("testbed: steer: %v", err)
	}
	if _, err := s.nft("-f", file); err != nil {
		t.Fatalf("testbed: steer: %v\n%s", err, b.String())
	}
	t.Cleanup(func() {
		if _, err := s.nft("delete", "table", "ip", s.Table); err != nil {
			t.Errorf("testbed: steer: %v", err)
		}
	})
	return s
}

func (s *Steering) nft(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Run(ctx, s.dir, nil, "nft", args...)
}

// Stats reads the table's counters.
func (s *Steering) Stats() (SteerStats, error) {
	out, err := s.nft("-j", "list", "counters", "table", "ip", s.Table)
	if err != nil {
		return SteerStats{}, err
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Table   string `json:"table"`
				Packets uint64 `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return SteerStats{}, fmt.Errorf("testbed: steer: counters: %w\n%s", err, out)
	}
	var st SteerStats
	for _, o := range doc.Nftables {
		if o.Counter == nil || o.Counter.Table != s.Table {
			continue
		}
		switch o.Counter.Name {
		case "steered":
			st.Steered = o.Counter.Packets
		case "dropped":
			st.Dropped = o.Counter.Packets
		}
	}
	return st, nil
}

// UDPPorts returns the local UDP ports (IPv4) that process pid has sockets
// bound to, read from /proc: the process's socket inodes matched against
// /proc/net/udp.
func UDPPorts(pid int) ([]int, error) {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, fmt.Errorf("testbed: udp ports of %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		return nil, fmt.Errorf("testbed: udp ports of %d: %w", pid, err)
	}
	defer f.Close()
	var ports []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || !inodes[fs[9]] {
			continue
		}
		_, hexPort, ok := strings.Cut(fs[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		ports = append(ports, int(p))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testbed: udp ports of %d: %w", pid, err)
	}
	return ports, nil
}
