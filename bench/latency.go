package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// The marker tone of figure 4: 1 kHz, 200 ms, half of full scale, at the
// narrow-band rate (PCMU, RFC 3551 §4.5.14), 20 ms per packet.
const (
	latRate      = 8000
	latFrame     = 160
	latBurst     = 10 // frames
	latToneHz    = 1000
	latThreshold = 0.1 * 32768
)

// ULawDecode decodes one G.711 µ-law byte (ITU-T G.711 §3) to linear
// 16-bit.
func ULawDecode(u byte) int16 {
	u = ^u
	t := (int(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// ULawEncode encodes a linear 16-bit sample to G.711 µ-law.
func ULawEncode(s int16) byte {
	const bias, clip = 0x84, 32635
	v := int(s)
	sign := 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// onsetDetector finds the first sample above the threshold once armed,
// and reports its time: the time the block holding it was seen minus the
// samples that followed it in the block.
type onsetDetector struct {
	mu    sync.Mutex
	armed bool
	found chan time.Time
}

func newOnsetDetector() *onsetDetector { return &onsetDetector{found: make(chan time.Time, 1)} }

func (d *onsetDetector) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.found:
	default:
	}
	d.armed = true
}

// feed looks at a block of samples that was complete at end.
func (d *onsetDetector) feed(s []int16, end time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.armed {
		return
	}
	for i, x := range s {
		if math.Abs(float64(x)) >= latThreshold {
			d.armed = false
			d.found <- end.Add(-time.Duration(len(s)-i) * time.Second / latRate)
			return
		}
	}
}

// wait returns the onset time, or an error after timeout.
func (d *onsetDetector) wait(timeout time.Duration) (time.Time, error) {
	select {
	case t := <-d.found:
		return t, nil
	case <-time.After(timeout):
		return time.Time{}, fmt.Errorf("%w: no tone within %s", ErrNotMeasurable, timeout)
	}
}

// toneFrame is one 20 ms frame of the marker tone, starting at phase 0.
func toneFrame(k int) []int16 {
	f := make([]int16, latFrame)
	for i := range f {
		n := k*latFrame + i
		f[i] = int16(0.5 * 32767 * math.Sin(2*math.Pi*latToneHz*float64(n)/latRate))
	}
	return f
}

// pacer sends 20 ms frames (silence, or the tone when a burst is asked
// for) to out in real time, from its own goroutine, until stop.
type pacer struct {
	burst chan chan time.Time // a burst request; the first tone frame's time is sent back
	stop  chan struct{}
	done  chan struct{} // closed when the goroutine has returned
	once  sync.Once
	wg    sync.WaitGroup
}

func startPacer(out func(frame []int16) error) *pacer {
	p := &pacer{burst: make(chan chan time.Time), stop: make(chan struct{}), done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		silence := make([]int16, latFrame)
		left := 0
		var reply chan time.Time
		for {
			select {
			case <-p.stop:
				return
			case reply = <-p.burst:
				left = latBurst
				continue
			case <-tick.C:
			}
			frame := silence
			if left > 0 {
				frame = toneFrame(latBurst - left)
			}
			now := time.Now()
			if out(frame) != nil {
				return
			}
			if left == latBurst && reply != nil {
				reply <- now
				reply = nil
			}
			if left > 0 {
				left--
			}
		}
	}()
	return p
}

// fire starts a burst and returns the time its first frame went out.
func (p *pacer) fire() (time.Time, error) {
	r := make(chan time.Time, 1)
	select {
	case p.burst <- r:
	case <-p.done:
		return time.Time{}, fmt.Errorf("%w: the frame writer stopped", ErrNotMeasurable)
	}
	select {
	case t := <-r:
		return t, nil
	case <-p.done:
		return time.Time{}, fmt.Errorf("%w: the frame writer stopped", ErrNotMeasurable)
	}
}

func (p *pacer) close() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

// paStream is a pacat (playing) or parec (recording) process with its
// pipe, raw S16LE mono at latRate. The pacat pipe is shrunk to one page
// and written with a deadline (a frame that does not fit is dropped), so
// no backlog builds up in it while PulseAudio pre-fills a new stream.
func (h *harness) paStream(tb *runTB, prog, device string) (w *os.File, r io.ReadCloser) {
	cmd := exec.Command(prog, "-d", device, "--raw", "--format=s16le", "--channels=1",
		"--rate="+strconv.Itoa(latRate), "--latency-msec=10")
	cmd.Env = append(cmd.Environ(), h.pa.Env()...)
	cmd.Env = append(cmd.Env, "HOME="+h.pa.Dir)
	var err error
	var pr *os.File
	if prog == "pacat" {
		pr, w, err = os.Pipe()
		if err == nil {
			// F_SETPIPE_SZ (fcntl(2)); the smallest size is one page
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), 1031, 4096)
			cmd.Stdin = pr
		}
	} else {
		r, err = cmd.StdoutPipe()
	}
	if err != nil {
		tb.Fatalf("bench: %s: %v", prog, err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("bench: %s: %v", prog, err)
	}
	if pr != nil {
		pr.Close()
	}
	tb.Cleanup(func() {
		if w != nil {
			w.Close()
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return w, r
}

// pcmWriter returns a frame sink writing to a pacat pipe; a frame that
// cannot be written within 5 ms is dropped.
func pcmWriter(w *os.File) func([]int16) error {
	return func(f []int16) error {
		_ = w.SetWriteDeadline(time.Now().Add(5 * time.Millisecond))
		_, err := w.Write(pcmBytes(f))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		return err
	}
}

// warmUp lets a new PulseAudio stream through its pre-fill stall (about
// 1.5 s on a null sink) before anything is timed.
func warmUp() { idle(context.Background(), 2500*time.Millisecond) }

// record reads parec's output into det until the pipe closes; at cleanup
// the pipe is closed and the goroutine joined.
func record(tb *runTB, r io.ReadCloser, det *onsetDetector) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			now := time.Now()
			if n >= 2 {
				s := make([]int16, n/2)
				for i := range s {
					s[i] = int16(uint16(buf[2*i]) | uint16(buf[2*i+1])<<8)
				}
				det.feed(s, now)
			}
			if err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() { r.Close(); wg.Wait() })
}

func pcmBytes(f []int16) []byte {
	b := make([]byte, 2*len(f))
	for i, s := range f {
		b[2*i], b[2*i+1] = byte(uint16(s)), byte(uint16(s)>>8)
	}
	return b
}

// paLoop measures pacat → parec on device (the PulseAudio share of a
// path, without any phone) over n bursts, in ms.
func (h *harness) paLoop(tb *runTB, sink, source string, n int) ([]float64, error) {
	w, _ := h.paStream(tb, "pacat", sink)
	_, r := h.paStream(tb, "parec", source)
	det := newOnsetDetector()
	record(tb, r, det)
	p := startPacer(pcmWriter(w))
	defer p.close()
	warmUp()
	return bursts(n, det, p.fire)
}

// bursts fires n bursts (after a settling pause that lets the streams
// reach their steady state) and returns onset − send times in ms.
func bursts(n int, det *onsetDetector, fire func() (time.Time, error)) ([]float64, error) {
	var out []float64
	for i := 0; i < n; i++ {
		det.arm()
		t0, err := fire()
		if err != nil {
			return out, err
		}
		t1, err := det.wait(3 * time.Second)
		if err != nil {
			return out, err
		}
		out = append(out, float64(t1.Sub(t0).Microseconds())/1000)
		idle(context.Background(), 400*time.Millisecond+time.Duration(rand.IntN(100))*time.Millisecond)
	}
	return out, nil
}

// rtpPeer is the far end of a figure 4 call: a sipgo UAC with a PCMU RTP
// socket of its own.
type rtpPeer struct {
	ua     *sipgo.UserAgent
	dialog *sipgo.DialogClientSession
	conn   *net.UDPConn
	remote *net.UDPAddr
}

var sdpMedia = regexp.MustCompile(`(?m)^m=audio (\d+) `)
var sdpConn = regexp.MustCompile(`(?m)^c=IN IP4 ([0-9.]+)`)

// call places a PCMU call to target ("host:port") and returns once it is
// answered and acknowledged (RFC 3261 §13.2.2.4).
func callPeer(tb *runTB, target string) *rtpPeer {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("bench: rtp socket: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("softphone-bench"))
	if err != nil {
		tb.Fatalf("bench: sip ua: %v", err)
	}
	tb.Cleanup(func() { ua.Close() })
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		tb.Fatalf("bench: sip client: %v", err)
	}
	dc := sipgo.NewDialogClientCache(cli, sip.ContactHeader{Address: sip.Uri{User: "bench", Host: "127.0.0.1"}})
	port := conn.LocalAddr().(*net.UDPAddr).Port
	sdp := fmt.Sprintf("v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n", port)
	var to sip.Uri
	if err := sip.ParseUri("sip:agent@"+target, &to); err != nil {
		tb.Fatalf("bench: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	d, err := dc.Invite(ctx, to, []byte(sdp), sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		tb.Fatalf("bench: invite: %v", err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		tb.Fatalf("bench: answer: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		tb.Fatalf("bench: ack: %v", err)
	}
	tb.Cleanup(func() {
		bctx, bcancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer bcancel()
		_ = d.Bye(bctx)
		_ = d.Close()
	})
	body := string(d.InviteResponse.Body())
	m, c := sdpMedia.FindStringSubmatch(body), sdpConn.FindStringSubmatch(body)
	if m == nil || c == nil {
		tb.Fatalf("bench: no audio in the answer:\n%s", body)
	}
	rport, _ := strconv.Atoi(m[1])
	return &rtpPeer{ua: ua, dialog: d, conn: conn, remote: &net.UDPAddr{IP: net.ParseIP(c[1]), Port: rport}}
}

// sender returns a frame sink that sends PCMU RTP packets (RFC 3550 §5.1)
// to the peer's remote.
func (p *rtpPeer) sender() func([]int16) error {
	var seq uint16
	var ts uint32
	ssrc := rand.Uint32()
	return func(f []int16) error {
		pay := make([]byte, len(f))
		for i, s := range f {
			pay[i] = ULawEncode(s)
		}
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: pay}
		seq++
		ts += uint32(len(f))
		b, err := pkt.Marshal()
		if err != nil {
			return err
		}
		_, err = p.conn.WriteToUDP(b, p.remote)
		return err
	}
}

// receive decodes the RTP arriving at the peer into det until the socket
// is closed at cleanup.
func (p *rtpPeer) receive(tb *runTB, det *onsetDetector) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, _, err := p.conn.ReadFromUDP(buf)
			now := time.Now()
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) != nil || pkt.PayloadType != 0 {
				continue
			}
			s := make([]int16, len(pkt.Payload))
			for i, u := range pkt.Payload {
				s[i] = ULawDecode(u)
			}
			det.feed(s, now)
		}
	}()
	tb.Cleanup(func() { p.conn.Close(); wg.Wait() })
}

// latencyPaths measures one phone's receive and send paths over n bursts
// each (raw, PulseAudio included), in ms.
func (h *harness) latencyPaths(tb *runTB, target string, n int) (recv, send []float64, recvErr, sendErr error) {
	peer := callPeer(tb, target)
	// receive path: RTP tone → the headset's sink, recorded at its monitor
	_, r := h.paStream(tb, "parec", headsetSink+".monitor")
	sinkDet := newOnsetDetector()
	record(tb, r, sinkDet)
	rtpDet := newOnsetDetector()
	peer.receive(tb, rtpDet)
	p := startPacer(peer.sender())
	defer p.close()
	warmUp()
	recv, recvErr = bursts(n, sinkDet, p.fire)
	// send path: a tone played into the headset (its microphone is the
	// sink's monitor, remapped) → RTP at the peer
	w, _ := h.paStream(tb, "pacat", headsetSink)
	pa := startPacer(pcmWriter(w))
	defer pa.close()
	warmUp()
	send, sendErr = bursts(n, rtpDet, pa.fire)
	return recv, send, recvErr, sendErr
}
