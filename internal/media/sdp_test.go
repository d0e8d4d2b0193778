package media

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

func testLocal() Local {
	return Local{
		Addr:   netip.MustParseAddr("127.0.0.1"),
		Port:   4000,
		Codecs: []string{"opus", "g722", "pcmu", "pcma"},
		Opus:   OpusParams{Stereo: true, FEC: true, MaxPlaybackRate: 48000},
		DTMF:   true,
	}
}

func readSDP(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAnswer(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name   string
		file   string
		local  func(*Local)
		dir    Direction
		codec  string
		pt     uint8
		chans  int
		fmtp   string
		dtmfPT int // -1: no DTMF
		dtmfHz uint32
		remote netip.AddrPort
		rtcp   netip.AddrPort
		ldir   Direction
		rdir   Direction
		ptime  int
		// answer checks
		mlines   int
		contains []string
		wantErr  error
	}{
		{name: "baresip picks opus by our order", file: "baresip_offer.sdp", dir: SendRecv,
			codec: "opus", pt: 96, chans: 2, fmtp: "stereo=1;sprop-stereo=1", dtmfPT: -1,
			remote: ap("127.0.0.1:10004"), rtcp: ap("127.0.0.1:10005"), ldir: SendRecv, rdir: SendRecv, ptime: 20,
			mlines: 1, contains: []string{"m=audio 4000 RTP/AVP 96\r\n", "a=rtpmap:96 opus/48000/2", "a=fmtp:96 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1;maxplaybackrate=48000", "a=sendrecv"}},
		{name: "baresip pcmu first with 8k dtmf", file: "baresip_offer.sdp", dir: SendRecv,
			local: func(l *Local) { l.Codecs = []string{"pcmu", "pcma"} },
			codec: "PCMU", pt: 0, chans: 1, dtmfPT: 101, dtmfHz: 8000,
			remote: ap("127.0.0.1:10004"), rtcp: ap("127.0.0.1:10005"), ldir: SendRecv, rdir: SendRecv, ptime: 20,
			mlines: 1, contains: []string{"m=audio 4000 RTP/AVP 0 101\r\n", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"}},
		{name: "baresip g722 sampled at 16k clock 8k", file: "baresip_offer.sdp", dir: SendRecv,
			local: func(l *Local) { l.Codecs = []string{"g722", "pcma"} },
			codec: "G722", pt: 9, chans: 1, dtmfPT: 101, dtmfHz: 8000,
			remote: ap("127.0.0.1:10004"), rtcp: ap("127.0.0.1:10005"), ldir: SendRecv, rdir: SendRecv, ptime: 20,
			mlines: 1, contains: []string{"m=audio 4000 RTP/AVP 9 101\r\n", "a=rtpmap:9 G722/8000"}},
		{name: "baresip without dtmf", file: "baresip_offer.sdp", dir: SendRecv,
			local: func(l *Local) { l.Codecs = []string{"pcma"}; l.DTMF = false },
			codec: "PCMA", pt: 8, chans: 1, dtmfPT: -1,
			remote: ap("127.0.0.1:10004"), rtcp: ap("127.0.0.1:10005"), ldir: SendRecv, rdir: SendRecv, ptime: 20,
			mlines: 1, contains: []string{"m=audio 4000 RTP/AVP 8\r\n"}},
		{name: "we want sendonly", file: "baresip_offer.sdp", dir: SendOnly,
			local: func(l *Local) { l.Codecs = []string{"pcmu"} },
			codec: "PCMU", pt: 0, chans: 1, dtmfPT: 101, dtmfHz: 8000,
			remote: ap("127.0.0.1:10004"), rtcp: ap("127.0.0.1:10005"), ldir: SendOnly, rdir: SendRecv, ptime: 20,
			mlines: 1, contains: []string{"a=sendonly"}},
		{name: "linphone opus, dtmf at 48k, rtcp port, video refused", file: "linphone_offer.sdp", dir: SendRecv,
			codec: "opus", pt: 96, chans: 1, fmtp: "useinbandfec=1", dtmfPT: 101, dtmfHz: 48000,
			remote: ap("192.168.1.10:7078"), rtcp: ap("192.168.1.10:7081"), ldir: SendRecv, rdir: SendRecv, ptime: 20,
			mlines: 2, contains: []string{"m=audio 4000 RTP/AVP 96 101\r\n", "a=rtpmap:101 telephone-event/48000", "m=video 0 RTP/AVP 96 97\r\n"}},
		{name: "linphone g711 with its 8k event", file: "linphone_offer.sdp", dir: SendRecv,
			local: func(l *Local) { l.Codecs = []string{"pcma", "pcmu"} },
			codec: "PCMA", pt: 8, chans: 1, dtmfPT: 100, dtmfHz: 8000,
			remote: ap("192.168.1.10:7078"), rtcp: ap("192.168.1.10:7081"), ldir: SendRecv, rdir: SendRecv, ptime: 20,
			mlines: 2, contains: []string{"m=audio 4000 RTP/AVP 8 100\r\n"}},
		{name: "webrtc savpf refused", file: "webrtc_offer.sdp", dir: SendRecv, wantErr: ErrNotAcceptable},
		{name: "hold sendonly answered recvonly", file: "hold_sendonly.sdp", dir: SendRecv,
			codec: "PCMU", pt: 0, chans: 1, dtmfPT: 101, dtmfHz: 8000,
			remote: ap("127.0.0.1:10004"), rtcp: ap("127.0.0.1:10005"), ldir: RecvOnly, rdir: SendOnly, ptime: 20,
			mlines: 1, contains: []string{"a=recvonly"}},
		{name: "hold inactive", file: "hold_inactive.sdp", dir: SendRecv,
			codec: "PCMU", pt: 0, chans: 1, dtmfPT: 101, dtmfHz: 8000,
			remote: ap("127.0.0.1:10004"), rtcp: ap("127.0.0.1:10005"), ldir: Inactive, rdir: Inactive, ptime: 20,
			mlines: 1, contains: []string{"a=inactive"}},
		{name: "rfc 2543 hold c=0.0.0.0", file: "hold_zero.sdp", dir: SendRecv,
			codec: "PCMU", pt: 0, chans: 1, dtmfPT: -1,
			ldir: RecvOnly, rdir: SendOnly, ptime: 20,
			mlines: 1, contains: []string{"a=recvonly"}},
		{name: "c=0.0.0.0 with recvonly is inactive", file: "hold_zero_recvonly.sdp", dir: SendRecv,
			local: func(l *Local) { l.Codecs = []string{"pcma"} },
			codec: "PCMA", pt: 8, chans: 1, dtmfPT: -1,
			ldir: Inactive, rdir: Inactive, ptime: 20,
			mlines: 1, contains: []string{"a=inactive"}},
		{name: "no common codec", file: "no_common_codec.sdp", dir: SendRecv, wantErr: ErrNotAcceptable},
		{name: "malformed", file: "malformed.sdp", dir: SendRecv, wantErr: ErrNotAcceptable},
		{name: "no c= line", file: "no_connection.sdp", dir: SendRecv, wantErr: ErrNotAcceptable},
		{name: "media-level c=, session recvonly, ptime 30", file: "media_level.sdp", dir: SendRecv,
			codec: "PCMA", pt: 8, chans: 1, dtmfPT: 126, dtmfHz: 8000,
			remote: ap("203.0.113.9:31000"), rtcp: ap("203.0.113.9:31001"), ldir: SendOnly, rdir: RecvOnly, ptime: 30,
			mlines: 1, contains: []string{"m=audio 4000 RTP/AVP 8 126\r\n", "a=sendonly", "a=ptime:20"}},
		{name: "opus with only 8k event gets no dtmf", file: "opus_te8000.sdp", dir: SendRecv,
			codec: "opus", pt: 107, chans: 2, fmtp: "maxplaybackrate=16000;stereo=1;sprop-stereo=1;useinbandfec=1", dtmfPT: -1,
			remote: ap("127.0.0.1:40000"), rtcp: ap("127.0.0.1:40001"), ldir: SendRecv, rdir: SendRecv, ptime: 40,
			mlines: 1, contains: []string{"m=audio 4000 RTP/AVP 107\r\n", "a=rtpmap:107 opus/48000/2"}},
		{name: "opus mono when we do not want stereo", file: "opus_te8000.sdp", dir: SendRecv,
			local: func(l *Local) { l.Opus.Stereo = false },
			codec: "opus", pt: 107, chans: 1, fmtp: "maxplaybackrate=16000;stereo=1;sprop-stereo=1;useinbandfec=1", dtmfPT: -1,
			remote: ap("127.0.0.1:40000"), rtcp: ap("127.0.0.1:40001"), ldir: SendRecv, rdir: SendRecv, ptime: 40,
			mlines: 1, contains: []string{"a=fmtp:107 minptime=10;useinbandfec=1;maxplaybackrate=48000"}},
		{name: "srtp line refused, plain line taken", file: "srtp_then_rtp.sdp", dir: SendRecv,
			local: func(l *Local) { l.Codecs = []string{"pcma", "pcmu"} },
			codec: "PCMA", pt: 8, chans: 1, dtmfPT: -1,
			remote: ap("10.1.1.1:5006"), rtcp: ap("10.1.1.1:5007"), ldir: SendRecv, rdir: SendRecv, ptime: 20,
			mlines: 2, contains: []string{"m=audio 0 RTP/SAVP 0\r\n", "m=audio 4000 RTP/AVP 8\r\n"}},
		{name: "ipv6 with a=rtcp address", file: "ipv6_offer.sdp", dir: SendRecv,
			local: func(l *Local) { l.Codecs = []string{"pcmu", "g722"} },
			codec: "PCMU", pt: 0, chans: 1, dtmfPT: -1,
			remote: ap("[2001:db8::7]:6000"), rtcp: ap("[2001:db8::8]:6009"), ldir: SendRecv, rdir: SendRecv, ptime: 20,
			mlines: 1, contains: []string{"m=audio 4000 RTP/AVP 0\r\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testLocal()
			if tt.local != nil {
				tt.local(&l)
			}
			n, err := NewNegotiator(l)
			if err != nil {
				t.Fatal(err)
			}
			offer := readSDP(t, tt.file)
			answer, neg, err := n.Answer(offer, tt.dir)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("answer: %v", err)
			}
			c := neg.Codec
			if c.Name != tt.codec || c.PayloadType != tt.pt || c.Channels != tt.chans || c.Fmtp != tt.fmtp {
				t.Errorf("codec = %+v, want %s pt %d ch %d fmtp %q", c, tt.codec, tt.pt, tt.chans, tt.fmtp)
			}
			if neg.RecvPayloadType != tt.pt {
				t.Errorf("recv pt = %d, want %d", neg.RecvPayloadType, tt.pt)
			}
			switch {
			case tt.dtmfPT < 0 && neg.DTMF != nil:
				t.Errorf("dtmf = %+v, want none", *neg.DTMF)
			case tt.dtmfPT >= 0 && (neg.DTMF == nil || int(neg.DTMF.PayloadType) != tt.dtmfPT || neg.DTMF.ClockRate != tt.dtmfHz):
				t.Errorf("dtmf = %+v, want pt %d at %d", neg.DTMF, tt.dtmfPT, tt.dtmfHz)
			}
			if neg.Remote != tt.remote || neg.RemoteRTCP != tt.rtcp {
				t.Errorf("remote = %v rtcp %v, want %v rtcp %v", neg.Remote, neg.RemoteRTCP, tt.remote, tt.rtcp)
			}
			if neg.LocalDirection != tt.ldir || neg.RemoteDirection != tt.rdir {
				t.Errorf("directions = local %v remote %v, want %v %v", neg.LocalDirection, neg.RemoteDirection, tt.ldir, tt.rdir)
			}
			if neg.PTime != tt.ptime {
				t.Errorf("ptime = %d, want %d", neg.PTime, tt.ptime)
			}
			var sd sdp.SessionDescription
			if err := sd.Unmarshal(answer); err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, answer)
			}
			if len(sd.MediaDescriptions) != tt.mlines {
				t.Errorf("answer has %d m-lines, want %d", len(sd.MediaDescriptions), tt.mlines)
			}
			for _, want := range tt.contains {
				if !strings.Contains(string(answer), want) {
					t.Errorf("answer lacks %q:\n%s", want, answer)
				}
			}
		})
	}
}

func TestOffer(t *testing.T) {
	n, err := NewNegotiator(testLocal())
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Offer(SendRecv)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"v=0\r\n",
		"c=IN IP4 127.0.0.1\r\n",
		"s=softphone\r\n",
		"t=0 0\r\n",
		"m=audio 4000 RTP/AVP 111 9 0 8 100 101\r\n",
		"a=rtpmap:111 opus/48000/2\r\n",
		"a=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1;maxplaybackrate=48000\r\n",
		"a=rtpmap:9 G722/8000\r\n",
		"a=rtpmap:0 PCMU/8000\r\n",
		"a=rtpmap:8 PCMA/8000\r\n",
		"a=rtpmap:100 telephone-event/48000\r\n",
		"a=fmtp:100 0-16\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n",
		"a=ptime:20\r\n",
		"a=sendrecv\r\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("offer lacks %q:\n%s", want, b)
		}
	}
	if _, err := n.Offer(DirectionUnknown); !errors.Is(err, ErrInvalidDirection) {
		t.Errorf("offer with unknown direction: err = %v", err)
	}
}

func origin(t *testing.T, b []byte) sdp.Origin {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	return sd.Origin
}

// TestVersion checks RFC 3264 §8: same id, version +1 only on change.
func TestVersion(t *testing.T) {
	n, err := NewNegotiator(testLocal())
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		do    func() ([]byte, error)
		delta uint64
	}{
		{"first offer", func() ([]byte, error) { return n.Offer(SendRecv) }, 0},
		{"same offer again", func() ([]byte, error) { return n.Offer(SendRecv) }, 0},
		{"hold", func() ([]byte, error) { return n.Offer(SendOnly) }, 1},
		{"hold again", func() ([]byte, error) { return n.Offer(SendOnly) }, 0},
		{"resume", func() ([]byte, error) { return n.Offer(SendRecv) }, 1},
		{"answer", func() ([]byte, error) {
			b, _, err := n.Answer(readSDP(t, "hold_sendonly.sdp"), SendRecv)
			return b, err
		}, 1},
	}
	var first sdp.Origin
	prev := uint64(0)
	for i, st := range steps {
		b, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		o := origin(t, b)
		if i == 0 {
			first, prev = o, o.SessionVersion
			continue
		}
		if o.SessionID != first.SessionID {
			t.Errorf("%s: session id changed %d -> %d", st.name, first.SessionID, o.SessionID)
		}
		if o.SessionVersion != prev+st.delta {
			t.Errorf("%s: version %d, want %d", st.name, o.SessionVersion, prev+st.delta)
		}
		prev = o.SessionVersion
	}
}

// TestOfferAnswerRoundTrip runs our offer through our own answerer.
func TestOfferAnswerRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		offerer   []string
		answerer  []string
		offerDir  Direction
		answerDir Direction
		codec     string
		dtmfHz    uint32
		offLocal  Direction
		ansLocal  Direction
		wantErr   error
	}{
		{"answerer order wins", []string{"pcma", "pcmu"}, []string{"pcmu", "pcma"}, SendRecv, SendRecv, "PCMU", 8000, SendRecv, SendRecv, nil},
		{"opus with 48k events", []string{"opus", "pcmu"}, []string{"opus", "pcmu"}, SendRecv, SendRecv, "opus", 48000, SendRecv, SendRecv, nil},
		{"we hold", []string{"pcmu"}, []string{"pcmu"}, SendOnly, SendRecv, "PCMU", 8000, SendOnly, RecvOnly, nil},
		{"peer answers inactive", []string{"pcmu"}, []string{"pcmu"}, SendRecv, Inactive, "PCMU", 8000, Inactive, Inactive, nil},
		{"no common codec", []string{"opus"}, []string{"pcmu"}, SendRecv, SendRecv, "", 0, 0, 0, ErrNotAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			la := testLocal()
			la.Codecs = tt.offerer
			lb := testLocal()
			lb.Addr = netip.MustParseAddr("10.0.0.2")
			lb.Port = 5000
			lb.Codecs = tt.answerer
			a, err := NewNegotiator(la)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewNegotiator(lb)
			if err != nil {
				t.Fatal(err)
			}
			offer, err := a.Offer(tt.offerDir)
			if err != nil {
				t.Fatal(err)
			}
			answer, nb, err := b.Answer(offer, tt.answerDir)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("answer err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			na, err := a.SetAnswer(answer)
			if err != nil {
				t.Fatalf("set answer: %v", err)
			}
			if na.Codec.Name != tt.codec || nb.Codec.Name != tt.codec || na.Codec.PayloadType != nb.Codec.PayloadType {
				t.Errorf("codecs %v / %v, want %s on both", na.Codec, nb.Codec, tt.codec)
			}
			if na.DTMF == nil || nb.DTMF == nil || na.DTMF.ClockRate != tt.dtmfHz || na.DTMF.PayloadType != nb.DTMF.PayloadType {
				t.Errorf("dtmf %+v / %+v, want %d Hz on both", na.DTMF, nb.DTMF, tt.dtmfHz)
			}
			if na.LocalDirection != tt.offLocal || nb.LocalDirection != tt.ansLocal {
				t.Errorf("directions %v / %v, want %v / %v", na.LocalDirection, nb.LocalDirection, tt.offLocal, tt.ansLocal)
			}
			if na.Remote != netip.MustParseAddrPort("10.0.0.2:5000") || nb.Remote != netip.MustParseAddrPort("127.0.0.1:4000") {
				t.Errorf("remotes %v / %v", na.Remote, nb.Remote)
			}
			if _, err := a.SetAnswer(answer); !errors.Is(err, ErrNoOffer) {
				t.Errorf("second SetAnswer err = %v, want ErrNoOffer", err)
			}
		})
	}
}

func TestSetAnswer(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
	tests := []struct {
		name    string
		answer  string
		pt      uint8
		recvPT  uint8
		codec   string
		wantErr error
	}{
		{"renumbered opus", head + "m=audio 5000 RTP/AVP 107\r\na=rtpmap:107 opus/48000/2\r\n", 107, 111, "opus", nil},
		{"answerer's first choice", head + "m=audio 5000 RTP/AVP 8 0\r\n", 8, 8, "PCMA", nil},
		{"refused stream", head + "m=audio 0 RTP/AVP 0\r\n", 0, 0, "", ErrNotAcceptable},
		{"extra m-line", head + "m=audio 5000 RTP/AVP 0\r\nm=audio 5002 RTP/AVP 0\r\n", 0, 0, "", ErrNotAcceptable},
		{"codec never offered", head + "m=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n", 0, 0, "", ErrNotAcceptable},
		{"malformed", "v=0\r\nm=nonsense\r\n", 0, 0, "", ErrNotAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := NewNegotiator(testLocal())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.SetAnswer([]byte(tt.answer)); !errors.Is(err, ErrNoOffer) {
				t.Fatalf("before offer: err = %v, want ErrNoOffer", err)
			}
			if _, err := n.Offer(SendRecv); err != nil {
				t.Fatal(err)
			}
			neg, err := n.SetAnswer([]byte(tt.answer))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if neg.Codec.Name != tt.codec || neg.Codec.PayloadType != tt.pt || neg.RecvPayloadType != tt.recvPT {
				t.Errorf("codec %v recv pt %d, want %s pt %d recv %d", neg.Codec, neg.RecvPayloadType, tt.codec, tt.pt, tt.recvPT)
			}
			if neg.Remote != netip.MustParseAddrPort("10.0.0.2:5000") || neg.LocalDirection != SendRecv {
				t.Errorf("remote %v dir %v", neg.Remote, neg.LocalDirection)
			}
		})
	}
}

func TestNewNegotiator(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Local)
		wantErr error
	}{
		{"valid", func(*Local) {}, nil},
		{"ipv6", func(l *Local) { l.Addr = netip.MustParseAddr("2001:db8::1") }, nil},
		{"no address", func(l *Local) { l.Addr = netip.Addr{} }, ErrInvalidConfig},
		{"unspecified address", func(l *Local) { l.Addr = netip.IPv4Unspecified() }, ErrInvalidConfig},
		{"port 0", func(l *Local) { l.Port = 0 }, ErrInvalidConfig},
		{"port too big", func(l *Local) { l.Port = 70000 }, ErrInvalidConfig},
		{"no codecs", func(l *Local) { l.Codecs = nil }, ErrInvalidConfig},
		{"unknown codec", func(l *Local) { l.Codecs = []string{"g729"} }, ErrInvalidConfig},
		{"codec twice", func(l *Local) { l.Codecs = []string{"pcmu", "PCMU"} }, ErrInvalidConfig},
		{"ptime too small", func(l *Local) { l.PTime = 5 }, ErrInvalidConfig},
		{"bad maxplaybackrate", func(l *Local) { l.Opus.MaxPlaybackRate = 96000 }, ErrInvalidConfig},
		{"session name with newline", func(l *Local) { l.SessionName = "a\r\nb=x" }, ErrInvalidConfig},
		{"srtp mandatory", func(l *Local) { l.SRTP = SRTPMandatory }, nil},
		{"unknown srtp mode", func(l *Local) { l.SRTP = SRTPMode(7) }, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testLocal()
			tt.mod(&l)
			n, err := NewNegotiator(l)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && n == nil {
				t.Fatal("nil negotiator without error")
			}
		})
	}
}

func TestDirection(t *testing.T) {
	tests := []struct {
		in      string
		want    Direction
		reverse Direction
		wantErr error
	}{
		{"sendrecv", SendRecv, SendRecv, nil},
		{"SendOnly", SendOnly, RecvOnly, nil},
		{"recvonly", RecvOnly, SendOnly, nil},
		{"inactive", Inactive, Inactive, nil},
		{"bogus", DirectionUnknown, DirectionUnknown, ErrInvalidDirection},
		{"", DirectionUnknown, DirectionUnknown, ErrInvalidDirection},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDirection(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if d != tt.want || d.Reverse() != tt.reverse {
				t.Errorf("got %v reverse %v, want %v %v", d, d.Reverse(), tt.want, tt.reverse)
			}
			if err == nil && !strings.EqualFold(d.String(), tt.in) {
				t.Errorf("String() = %q, want %q", d.String(), tt.in)
			}
		})
	}
	if DirectionUnknown.String() != "unknown" {
		t.Errorf("zero value String() = %q", DirectionUnknown.String())
	}
	intersect := []struct{ a, b, want Direction }{
		{SendRecv, SendOnly, SendOnly},
		{SendOnly, RecvOnly, Inactive},
		{RecvOnly, SendRecv, RecvOnly},
		{Inactive, SendRecv, Inactive},
		{DirectionUnknown, SendRecv, DirectionUnknown},
	}
	for _, tt := range intersect {
		if got := tt.a.Intersect(tt.b); got != tt.want {
			t.Errorf("%v ∩ %v = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func BenchmarkAnswerLinphone(b *testing.B) {
	offer, err := os.ReadFile(filepath.Join("testdata", "linphone_offer.sdp"))
	if err != nil {
		b.Fatal(err)
	}
	n, err := NewNegotiator(testLocal())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := n.Answer(offer, SendRecv); err != nil {
			b.Fatal(err)
		}
	}
}

// cryptoAttrs returns the a=crypto values of the first m-line of body.
func cryptoAttrs(t *testing.T, body []byte) (proto string, lines []string) {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("our sdp does not parse: %v\n%s", err, body)
	}
	md := sd.MediaDescriptions[0]
	for _, a := range md.Attributes {
		if a.Key == "crypto" {
			lines = append(lines, a.Value)
		}
	}
	return strings.Join(md.MediaName.Protos, "/"), lines
}

func TestSRTPOffer(t *testing.T) {
	tests := []struct {
		mode      SRTPMode
		wantProto string
		wantLines int
	}{
		{SRTPOff, "RTP/AVP", 0},
		{SRTPOptional, "RTP/AVP", 2},
		{SRTPMandatory, "RTP/SAVP", 2},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			l := testLocal()
			l.SRTP = tt.mode
			n, err := NewNegotiator(l)
			if err != nil {
				t.Fatal(err)
			}
			offer, err := n.Offer(SendRecv)
			if err != nil {
				t.Fatal(err)
			}
			proto, lines := cryptoAttrs(t, offer)
			if proto != tt.wantProto || len(lines) != tt.wantLines {
				t.Fatalf("offer %s with %d crypto lines, want %s with %d:\n%s", proto, len(lines), tt.wantProto, tt.wantLines, offer)
			}
			for i, v := range lines {
				c, err := parseCrypto(v)
				if err != nil || c.tag != i+1 || c.suite != srtpSuites[i] {
					t.Errorf("crypto line %d %q: %+v %v", i, v, c, err)
				}
			}
			// A re-offer keeps the keys and so the o= version.
			again, err := n.Offer(SendRecv)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(offer) {
				t.Errorf("re-offer changed:\n%s\n%s", offer, again)
			}
		})
	}
}

func TestSRTPAnswer(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
	key := testKey(9)
	inline := base64.StdEncoding.EncodeToString(key)
	savp := head + "m=audio 5000 RTP/SAVP 0\r\na=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:" + inline + "\r\n"
	savpTwo := head + "m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AEAD_AES_256_GCM inline:" + inline + "\r\n" +
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|2^31\r\n"
	avpCrypto := head + "m=audio 5000 RTP/AVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "\r\n"
	avpPlain := head + "m=audio 5000 RTP/AVP 0\r\n"
	savpNone := head + "m=audio 5000 RTP/SAVP 0\r\n"
	savpUnusable := head + "m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|2^20|1:4\r\n"
	savpf := head + "m=audio 5000 RTP/SAVPF 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "\r\n"
	tests := []struct {
		name      string
		mode      SRTPMode
		offer     string
		wantProto string
		wantSuite SRTPSuite // SRTPSuiteUnknown: plain RTP
		wantTag   int
		wantErr   error
	}{
		{"off refuses savp", SRTPOff, savp, "", 0, 0, ErrNotAcceptable},
		{"off ignores crypto in avp", SRTPOff, avpCrypto, "RTP/AVP", SRTPSuiteUnknown, 0, nil},
		{"off takes plain avp", SRTPOff, avpPlain, "RTP/AVP", SRTPSuiteUnknown, 0, nil},
		{"optional takes savp", SRTPOptional, savp, "RTP/SAVP", AESCM128HMACSHA132, 5, nil},
		{"optional skips a suite it lacks", SRTPOptional, savpTwo, "RTP/SAVP", AESCM128HMACSHA180, 2, nil},
		{"optional takes best-effort avp", SRTPOptional, avpCrypto, "RTP/AVP", AESCM128HMACSHA180, 1, nil},
		{"optional takes plain avp", SRTPOptional, avpPlain, "RTP/AVP", SRTPSuiteUnknown, 0, nil},
		{"optional refuses savp without crypto", SRTPOptional, savpNone, "", 0, 0, ErrNotAcceptable},
		{"optional refuses unusable crypto", SRTPOptional, savpUnusable, "", 0, 0, ErrNotAcceptable},
		{"savpf refused", SRTPMandatory, savpf, "", 0, 0, ErrNotAcceptable},
		{"mandatory takes savp", SRTPMandatory, savp, "RTP/SAVP", AESCM128HMACSHA132, 5, nil},
		{"mandatory takes best-effort avp", SRTPMandatory, avpCrypto, "RTP/AVP", AESCM128HMACSHA180, 1, nil},
		{"mandatory refuses plain avp", SRTPMandatory, avpPlain, "", 0, 0, ErrNotAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testLocal()
			l.SRTP = tt.mode
			n, err := NewNegotiator(l)
			if err != nil {
				t.Fatal(err)
			}
			answer, neg, err := n.Answer([]byte(tt.offer), SendRecv)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			proto, lines := cryptoAttrs(t, answer)
			if proto != tt.wantProto {
				t.Errorf("answer profile %s, want %s", proto, tt.wantProto)
			}
			if tt.wantSuite == SRTPSuiteUnknown {
				if neg.SRTP != nil || len(lines) != 0 {
					t.Errorf("plain rtp wanted, got keys %+v and lines %v", neg.SRTP, lines)
				}
				return
			}
			if neg.SRTP == nil || neg.SRTP.Suite != tt.wantSuite || neg.SRTP.Tag != tt.wantTag || !bytes.Equal(neg.SRTP.RemoteKey, key) {
				t.Fatalf("keys %+v, want suite %v tag %d with the offer's key", neg.SRTP, tt.wantSuite, tt.wantTag)
			}
			if len(lines) != 1 {
				t.Fatalf("answer has %d crypto lines, want 1", len(lines))
			}
			c, err := parseCrypto(lines[0])
			if err != nil || c.tag != tt.wantTag || c.suite != tt.wantSuite || !bytes.Equal(c.key, neg.SRTP.LocalKey) || bytes.Equal(c.key, key) {
				t.Errorf("answer crypto %q: %+v %v", lines[0], c, err)
			}
		})
	}
}

func TestSRTPSetAnswer(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
	key := testKey(4)
	inline := base64.StdEncoding.EncodeToString(key)
	crypto := func(tag int, suite string) string {
		return "a=crypto:" + strconv.Itoa(tag) + " " + suite + " inline:" + inline + "\r\n"
	}
	tests := []struct {
		name      string
		mode      SRTPMode
		answer    string
		wantSuite SRTPSuite
		wantErr   error
	}{
		{"mandatory, 80 chosen", SRTPMandatory, head + "m=audio 5000 RTP/SAVP 0\r\n" + crypto(1, "AES_CM_128_HMAC_SHA1_80"), AESCM128HMACSHA180, nil},
		{"mandatory, 32 chosen", SRTPMandatory, head + "m=audio 5000 RTP/SAVP 0\r\n" + crypto(2, "AES_CM_128_HMAC_SHA1_32"), AESCM128HMACSHA132, nil},
		{"mandatory, no crypto", SRTPMandatory, head + "m=audio 5000 RTP/SAVP 0\r\n", 0, ErrNotAcceptable},
		{"mandatory, plain avp", SRTPMandatory, head + "m=audio 5000 RTP/AVP 0\r\n", 0, ErrNotAcceptable},
		{"tag and suite mismatch", SRTPMandatory, head + "m=audio 5000 RTP/SAVP 0\r\n" + crypto(2, "AES_CM_128_HMAC_SHA1_80"), 0, ErrNotAcceptable},
		{"tag never offered", SRTPMandatory, head + "m=audio 5000 RTP/SAVP 0\r\n" + crypto(3, "AES_CM_128_HMAC_SHA1_80"), 0, ErrNotAcceptable},
		{"optional, plain peer", SRTPOptional, head + "m=audio 5000 RTP/AVP 0\r\n", SRTPSuiteUnknown, nil},
		{"optional, sdes peer", SRTPOptional, head + "m=audio 5000 RTP/AVP 0\r\n" + crypto(2, "AES_CM_128_HMAC_SHA1_32"), AESCM128HMACSHA132, nil},
		{"optional, unusable crypto", SRTPOptional, head + "m=audio 5000 RTP/AVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:short\r\n", 0, ErrNotAcceptable},
		{"off, savp answer", SRTPOff, head + "m=audio 5000 RTP/SAVP 0\r\n" + crypto(1, "AES_CM_128_HMAC_SHA1_80"), 0, ErrNotAcceptable},
		{"off, crypto ignored", SRTPOff, head + "m=audio 5000 RTP/AVP 0\r\n" + crypto(1, "AES_CM_128_HMAC_SHA1_80"), SRTPSuiteUnknown, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testLocal()
			l.SRTP = tt.mode
			n, err := NewNegotiator(l)
			if err != nil {
				t.Fatal(err)
			}
			offer, err := n.Offer(SendRecv)
			if err != nil {
				t.Fatal(err)
			}
			neg, err := n.SetAnswer([]byte(tt.answer))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if tt.wantSuite == SRTPSuiteUnknown {
				if neg.SRTP != nil {
					t.Errorf("keys %+v, want plain rtp", neg.SRTP)
				}
				return
			}
			if neg.SRTP == nil || neg.SRTP.Suite != tt.wantSuite || !bytes.Equal(neg.SRTP.RemoteKey, key) {
				t.Fatalf("keys %+v, want %v with the answer's key", neg.SRTP, tt.wantSuite)
			}
			// Our key is the one our offer gave for that suite.
			_, lines := cryptoAttrs(t, offer)
			c, err := parseCrypto(lines[neg.SRTP.Tag-1])
			if err != nil || !bytes.Equal(c.key, neg.SRTP.LocalKey) {
				t.Errorf("local key is not the offered one: %v", err)
			}
		})
	}
}
