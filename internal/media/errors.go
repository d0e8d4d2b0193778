package media

import "errors"

// ErrNotAcceptable reports an SDP offer or answer that cannot be used: it is
// malformed, offers no usable m-line or shares no codec with us. The SIP
// layer answers an offer failing with it by 488 Not Acceptable Here
// (RFC 3261 §21.4.26). The reason is wrapped in the error text.
var ErrNotAcceptable = errors.New("media: sdp not acceptable")

// ErrNoOffer is returned by Negotiator.SetAnswer when no offer of ours is
// outstanding.
var ErrNoOffer = errors.New("media: no offer outstanding")

// ErrInvalidConfig reports unusable Local settings given to NewNegotiator.
var ErrInvalidConfig = errors.New("media: invalid local media settings")

// ErrInvalidDirection is returned by ParseDirection for an unknown name.
var ErrInvalidDirection = errors.New("media: invalid direction")

// ErrCodecUnsupported reports a negotiated codec whose encoder or decoder is
// not available yet (Opus and G.722 are negotiated in SDP but not coded).
var ErrCodecUnsupported = errors.New("media: codec not supported for coding")

// ErrInvalidPortRange reports a PortRange that cannot hold an RTP/RTCP pair.
var ErrInvalidPortRange = errors.New("media: invalid rtp port range")

// ErrNoFreePort is returned by PortRange.Listen when no even/odd port pair
// in the range could be bound.
var ErrNoFreePort = errors.New("media: no free rtp port pair")

// ErrSessionClosed is returned by Session methods once Close has been called.
var ErrSessionClosed = errors.New("media: session closed")

// ErrSessionStarted is returned by Session.Start when called twice.
var ErrSessionStarted = errors.New("media: session already started")

// ErrSRTP reports unusable SRTP parameters: an a=crypto line we cannot use,
// or keys pion's SRTP contexts refuse.
var ErrSRTP = errors.New("media: srtp")

// ErrInvalidSRTPMode is returned by ParseSRTPMode for an unknown name.
var ErrInvalidSRTPMode = errors.New("media: invalid srtp mode")

// ErrInvalidDTMF reports a character SendDTMF cannot send (RFC 4733 §3.2
// events are 0-9, *, #, A-D).
var ErrInvalidDTMF = errors.New("media: invalid dtmf digit")

// ErrNoDTMF is returned by SendDTMF when no telephone-event format was
// negotiated.
var ErrNoDTMF = errors.New("media: telephone-event not negotiated")
