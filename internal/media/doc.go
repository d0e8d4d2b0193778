// Package media holds the call's media plane below SIP and above the audio
// devices: SDP offer/answer (RFC 3264), RTP/RTCP port allocation, RTP
// sessions and the codecs that fill them. It imports none of the product's
// other packages; the phone layer hands it SDP bodies and PCM frames.
//
// Data flow of one call:
//
//	             SDP offer/answer (Negotiator) ──► Negotiated
//	                                                   │
//	PortRange.Listen ──► RTP + RTCP sockets ──► Session ◄┘
//
//	send:    WriteFrame(pcm) ─► encode (G.711) ─► rtp.Packet ─► UDP ─► peer
//	receive: peer ─► UDP ─► reader goroutine ─► rtp.Packet ─► decode ─► ReadFrame
//
// SDP text is parsed and written with github.com/pion/sdp/v3 and RTP/RTCP
// packets with github.com/pion/rtp and github.com/pion/rtcp. Written here by
// hand is only what those packages leave to the application: the RFC 3264
// answer rules, direction mirroring, the per-m-line codec map, G.711 and the
// session's sequencing and symmetric-RTP latching.
package media
