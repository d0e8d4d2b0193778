// Package sip is the softphone's SIP user agent, built on sipgo's transport
// and transaction layers (RFC 3261 §17-18). It registers the configured
// accounts, keeps their bindings alive, and owns every dialog: it hands each
// incoming call up through a Handler and carries out the answer, reject or
// ring that comes back down. It knows nothing about devices, codecs or
// policy, and reads no SDP: bodies go to and come from a per-call Media
// supplied by the layer above, and the media package's RemoteDirection
// (the project's one SDP reader) says whether a peer's re-INVITE or UPDATE
// holds the call. Response codes are sipgo's sip.Status constants.
//
//	         Handler (phone layer)
//	 IncomingCall ▲   │ Decision / Call.Answer / Reject / Hold ...
//	              │   ▼
//	┌─────────────────────────────────────────────┐
//	│ UA: registrations (one loop per Account)     │
//	│     calls (dialog state, session timers)     │──► Media (SDP offer/answer)
//	└─────────────────────────────────────────────┘──► media.RemoteDirection (hold?)
//	              │   ▲
//	              ▼   │ requests / responses
//	      sipgo Client / Server (transactions)
//	              │   ▲
//	      UDP / TCP / TLS sockets (optional DSCP), WebSocket (ws/wss) as a client
package sip
