// Package sip is the softphone's SIP user agent, built on sipgo's transport
// and transaction layers (RFC 3261 §17-18). It registers the configured
// accounts, keeps their bindings alive, and owns every dialog: it hands each
// incoming call up through a Handler and carries out the answer, reject or
// ring that comes back down. It knows nothing about devices, codecs or
// policy: SDP comes from a per-call Media supplied by the layer above.
//
//	         Handler (phone layer)
//	 IncomingCall ▲   │ Decision / Call.Answer / Reject / Hold ...
//	              │   ▼
//	┌─────────────────────────────────────────────┐
//	│ UA: registrations (one loop per Account)     │
//	│     calls (dialog state, session timers)     │──► Media (SDP offer/answer)
//	└─────────────────────────────────────────────┘
//	              │   ▲
//	              ▼   │ requests / responses
//	      sipgo Client / Server (transactions)
//	              │   ▲
//	      UDP / TCP / TLS sockets (optional DSCP)
package sip
