package testbed

import (
	"net"
	"strconv"
	"time"
)

// Rtpengine is a running rtpengine (Debian's rtpengine-daemon) in user
// space on 127.0.0.1: no kernel tables, its ng control protocol on a UDP
// port of its own and media ports from a run-time range. Kamailio's
// rtpengine module drives it (KamailioOptions.RTPEngine).
type Rtpengine struct {
	proc   *Process
	ngPort int
}

// StartRtpengine starts rtpengine and waits until its ng port is bound. It
// is stopped at cleanup.
func StartRtpengine(t TB) *Rtpengine {
	t.Helper()
	Require(t, "rtpengine")
	ng := FreePort(t, 1)
	media := FreePort(t, 200)
	dir := Dir(t, "rtpengine")
	r := &Rtpengine{ngPort: ng}
	r.proc = Start(t, dir, nil, "rtpengine", "--foreground", "--table=-1", "--interface=127.0.0.1",
		"--listen-ng=127.0.0.1:"+strconv.Itoa(ng), "--port-min="+strconv.Itoa(media), "--port-max="+strconv.Itoa(media+199),
		"--log-stderr", "--log-level=6", "--no-fallback")
	if !WaitFor(10*time.Second, func() bool {
		select {
		case <-r.proc.Done():
			return true
		default:
		}
		return portBound("udp", ng)
	}) {
		t.Fatalf("rtpengine: ng port %d not bound\n%s", ng, r.proc.Log())
	}
	select {
	case <-r.proc.Done():
		t.Fatalf("rtpengine exited at start: %v\n%s", r.proc.Err(), r.proc.Log())
	default:
	}
	return r
}

// NGAddr is the ng control address, "127.0.0.1:port".
func (r *Rtpengine) NGAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.ngPort)) }

// Log is what rtpengine wrote so far.
func (r *Rtpengine) Log() string { return r.proc.Log() }

// Stop ends rtpengine, as a gateway that went away: the calls it carried
// lose their media.
func (r *Rtpengine) Stop() { r.proc.Stop() }
