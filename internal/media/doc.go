// Package media holds the call's media plane below SIP and above the audio
// devices: SDP offer/answer (RFC 3264), RTP/RTCP port allocation, RTP
// sessions (RFC 3550) with SRTP (RFC 3711, SDES keys of RFC 4568), the
// codecs that fill them (G.711, G.722, Opus), the jitter buffer with loss
// concealment, comfort noise (RFC 3389), telephone events (RFC 4733), RTCP
// reports and the call quality figures derived from them (E-model R and
// MOS). Of the product's other packages it imports only internal/tick (the
// playout clock); the phone layer hands it SDP bodies and PCM frames.
//
// It is the only package that reads SDP. The SIP layer passes bodies
// through: offers and answers to a Negotiator (through the phone's
// sip.Media), and a peer's re-INVITE or UPDATE to RemoteDirection, which
// says whether it holds the call (a=sendonly, a=inactive, or a connection
// address of 0.0.0.0 or ::, RFC 3264 §8.4).
//
// Data flow of one call:
//
//	local offer/answer ─► Negotiator ◄─ remote SDP
//	                          │
//	                          ▼ Negotiated (codec, payload types, addresses,
//	                          │  direction, ptime, SRTP keys)
//	PortRange.Listen ─► RTP + RTCP sockets ─► Session ◄─ Update (re-INVITE)
//
//	send:    WriteFrame(pcm) ─► encode ─► rtp.Packet ─► (SRTP) ─► UDP ─► peer
//	         SendDTMF ─► RFC 4733 events ─┘
//	receive: peer ─► UDP ─► (SRTP) ─► reader goroutine ─► one source and
//	         SSRC (symmetric RTP; strangers dropped) ─► jitter buffer ─►
//	         decode / conceal ─► playout ticker ─► ReadFrame(pcm)
//	report:  RTCP reader + report ticker ─► SR/RR, XR VoIP metrics
//	         (RFC 3611) ◄─► peer ─► Stats (loss, jitter, round trip, MOS)
//
// A Session owns its RTP reader, RTCP reader and report goroutines: Start
// starts them and the playout ticker, Close stops and joins them and closes
// the sockets. Clocks and
// tickers are injected (SessionOptions), so the timing tests need no
// sleeps.
//
// SDP text is parsed and written with github.com/pion/sdp/v3, RTP/RTCP
// packets with github.com/pion/rtp and github.com/pion/rtcp, SRTP with
// github.com/pion/srtp/v3 and Opus with libopus (gopkg.in/hraban/opus.v2).
// Written here by hand is only what those packages leave to the
// application: the RFC 3264 answer rules, direction mirroring, the
// per-m-line codec map, G.711 and G.722, and the session's sequencing,
// jitter buffering and symmetric-RTP latching.
package media
