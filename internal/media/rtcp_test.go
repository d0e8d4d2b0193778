package media

import (
	"net"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/softphone/softphone/internal/testbed"
)

// TestRecvStats checks RFC 3550 A.1/A.3 counting against sequences.
func TestRecvStats(t *testing.T) {
	tests := []struct {
		name         string
		seqs         []uint16
		wantExpected uint64
		wantLost     int64
		wantFraction uint8
		wantExtMax   uint32
	}{
		{"in order", []uint16{10, 11, 12, 13}, 4, 0, 0, 13},
		{"one of ten lost", []uint16{1, 2, 3, 4, 6, 7, 8, 9, 10}, 10, 1, 25, 10},
		{"reordered", []uint16{1, 3, 2, 4}, 4, 0, 0, 4},
		{"duplicate makes loss negative", []uint16{1, 2, 2, 3}, 3, -1, 0, 3},
		{"wrap", []uint16{65534, 65535, 0, 1}, 4, 0, 0, 1<<16 + 1},
		{"wrap with loss", []uint16{65534, 0, 1}, 4, 1, 64, 1<<16 + 1},
		{"restart after a jump", []uint16{1, 2, 30000, 30001, 30002}, 2, 0, 0, 30002}, // A.1: counting restarts at the second packet
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recvStats
			for _, s := range tt.seqs {
				r.update(9, s)
			}
			if got := r.expected(); got != tt.wantExpected {
				t.Errorf("expected %d, want %d", got, tt.wantExpected)
			}
			if got := r.lost(); got != tt.wantLost {
				t.Errorf("lost %d, want %d", got, tt.wantLost)
			}
			if got := r.extMax(); got != tt.wantExtMax {
				t.Errorf("extended max %d, want %d", got, tt.wantExtMax)
			}
			if got := r.interval(); got != tt.wantFraction {
				t.Errorf("fraction %d/256, want %d", got, tt.wantFraction)
			}
			if got := r.interval(); got != 0 {
				t.Errorf("fraction of an empty interval %d, want 0", got)
			}
		})
	}
}

func TestRTTFrom(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	sentSR := now.Add(-300 * time.Millisecond)
	tests := []struct {
		name   string
		rr     rtcp.ReceptionReport
		want   time.Duration
		wantOK bool
	}{
		{"no sr seen", rtcp.ReceptionReport{}, 0, false},
		{"100 ms held", rtcp.ReceptionReport{LastSenderReport: ntpMiddle(sentSR), Delay: 65536 / 10}, 200 * time.Millisecond, true},
		{"delay beyond now", rtcp.ReceptionReport{LastSenderReport: ntpMiddle(sentSR), Delay: 65536}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rttFrom(tt.rr, now)
			if ok != tt.wantOK {
				t.Fatalf("ok %v, want %v", ok, tt.wantOK)
			}
			if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("rtt %v, want %v", got, tt.want)
			}
		})
	}
}

// readRTCP reads one compound RTCP packet from c.
func readRTCP(t *testing.T, c *net.UDPConn) []rtcp.Packet {
	t.Helper()
	buf := make([]byte, 1500)
	if err := c.SetReadDeadline(time.Now().Add(hardTimeout)); err != nil {
		t.Fatal(err)
	}
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read rtcp: %v", err)
	}
	pkts, err := rtcp.Unmarshal(buf[:n])
	if err != nil {
		t.Fatalf("rtcp from session: %v", err)
	}
	return pkts
}

// TestReceiverReport: a session that only receives reports RR blocks with
// the loss it saw, on its ticker, to the peer's RTCP address, with a CNAME.
func TestReceiverReport(t *testing.T) {
	peer := rawPeer(t)
	peerRTCP := rawPeer(t)
	sRTP, sRTCP := pair(t)
	n := g711("PCMU", addrOf(peer), RecvOnly)
	n.RemoteRTCP = addrOf(peerRTCP)
	tick := newManualTicker()
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: n, RTCPTicker: tick.factory()})
	if tick.period != DefaultRTCPInterval {
		t.Errorf("rtcp interval %v, want %v", tick.period, DefaultRTCPInterval)
	}
	for seq := uint16(1); seq <= 10; seq++ {
		if seq != 5 {
			sendPacket(t, peer, addrOf(sRTP), ptPCMU, seq, make([]byte, 160))
		}
	}
	if !testbed.WaitFor(hardTimeout, func() bool { return s.Stats().PacketsReceived == 9 }) {
		t.Fatalf("received %d packets, want 9", s.Stats().PacketsReceived)
	}
	tick.Tick()
	pkts := readRTCP(t, peerRTCP)
	if len(pkts) != 3 {
		t.Fatalf("compound of %d packets, want RR + SDES + XR", len(pkts))
	}
	xr, ok := pkts[2].(*rtcp.ExtendedReport)
	if !ok || len(xr.Reports) != 1 {
		t.Fatalf("third packet %v, want XR with one block", pkts[2])
	}
	vm, ok := xr.Reports[0].(*rtcp.VoIPMetricsReportBlock)
	if !ok || vm.SSRC != 7 || vm.LossRate != 26 || vm.DiscardRate != 0 || vm.Gmin != 16 || vm.MOSCQ < 10 || vm.MOSCQ > 50 {
		t.Errorf("xr block %+v, want VoIP metrics of ssrc 7, loss 26/256, gmin 16, a MOS", xr.Reports[0])
	}
	rr, ok := pkts[0].(*rtcp.ReceiverReport)
	if !ok {
		t.Fatalf("first packet %T, want a receiver report (nothing sent)", pkts[0])
	}
	sdes, ok := pkts[1].(*rtcp.SourceDescription)
	if !ok || len(sdes.Chunks) != 1 || len(sdes.Chunks[0].Items) != 1 || sdes.Chunks[0].Items[0].Type != rtcp.SDESCNAME {
		t.Errorf("second packet %v, want SDES with a CNAME", pkts[1])
	}
	if len(rr.Reports) != 1 {
		t.Fatalf("%d report blocks, want 1", len(rr.Reports))
	}
	b := rr.Reports[0]
	if b.SSRC != 7 || b.TotalLost != 1 || b.FractionLost != 25 || b.LastSequenceNumber != 10 || b.LastSenderReport != 0 {
		t.Errorf("report block %+v, want ssrc 7, 1 lost, fraction 25/256, highest 10, no LSR", b)
	}
	st := s.Stats()
	if st.PacketsLost != 1 || st.FractionLost != 25.0/256 || st.RTCPSent != 1 {
		t.Errorf("stats lost %d fraction %v rtcp sent %d", st.PacketsLost, st.FractionLost, st.RTCPSent)
	}
}

// TestRTCPRoundTrip: two sessions exchange SRs and measure the RTT from
// LSR and DLSR (RFC 3550 §6.4.1) on fake clocks: 50 ms out and back with
// 30 ms held by the peer make 20 ms.
func TestRTCPRoundTrip(t *testing.T) {
	ca, cb := newFakeClock(), newFakeClock()
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: g711("PCMU", addrOf(bRTP), SendRecv),
		Now: ca.Now, RTCPTicker: newManualTicker().factory()})
	b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: g711("PCMU", addrOf(aRTP), SendRecv),
		Now: cb.Now, RTCPTicker: newManualTicker().factory()})
	for range 5 {
		if err := a.WriteFrame(make([]int16, 160)); err != nil {
			t.Fatal(err)
		}
		if err := b.WriteFrame(make([]int16, 160)); err != nil {
			t.Fatal(err)
		}
	}
	if !testbed.WaitFor(hardTimeout, func() bool { return a.Stats().PacketsReceived == 5 && b.Stats().PacketsReceived == 5 }) {
		t.Fatal("rtp not received")
	}
	if err := a.SendReport(); err != nil {
		t.Fatal(err)
	}
	if !testbed.WaitFor(hardTimeout, func() bool { return b.Stats().RTCPReceived == 1 }) {
		t.Fatal("b got no report")
	}
	cb.Add(30 * time.Millisecond)
	ca.Add(50 * time.Millisecond)
	if err := b.SendReport(); err != nil {
		t.Fatal(err)
	}
	if !testbed.WaitFor(hardTimeout, func() bool { return a.Stats().RTCPReceived == 1 }) {
		t.Fatal("a got no report")
	}
	st := a.Stats()
	if d := st.RTT - 20*time.Millisecond; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("rtt %v, want 20 ms", st.RTT)
	}
	if st.RemotePacketsLost != 0 || st.RemoteFractionLost != 0 {
		t.Errorf("peer reports loss %d / %v, want none", st.RemotePacketsLost, st.RemoteFractionLost)
	}
	if st.MOS < 4.3 || st.MOS > 4.5 {
		t.Errorf("mos %.2f without loss and little delay, want about 4.4", st.MOS)
	}
}
