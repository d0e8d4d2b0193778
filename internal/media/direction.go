package media

import (
	"fmt"
	"strings"
)

// Direction is the media direction of an m-line (RFC 3264 §5.1, RFC 4566 §6).
type Direction int

// Directions. The zero value is DirectionUnknown.
const (
	DirectionUnknown Direction = iota
	SendRecv
	SendOnly
	RecvOnly
	Inactive
)

// String returns the SDP attribute name ("sendrecv", …) or "unknown".
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	default:
		return "unknown"
	}
}

// ParseDirection parses an SDP direction attribute name, case-insensitively.
func ParseDirection(s string) (Direction, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sendrecv":
		return SendRecv, nil
	case "sendonly":
		return SendOnly, nil
	case "recvonly":
		return RecvOnly, nil
	case "inactive":
		return Inactive, nil
	default:
		return DirectionUnknown, fmt.Errorf("%w: %q", ErrInvalidDirection, s)
	}
}

// Sends reports whether media flows out in this direction.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether media flows in in this direction.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Holds reports whether a peer offering this direction puts the call on
// hold: it no longer takes our media (sendonly, or inactive, RFC 3264 §8.4).
func (d Direction) Holds() bool { return d == SendOnly || d == Inactive }

// Reverse returns the direction seen from the other end: what the peer
// sends we receive (RFC 3264 §6.1: a sendonly stream is answered recvonly).
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	default:
		return d
	}
}

// Intersect returns the direction allowed by both d and o.
func (d Direction) Intersect(o Direction) Direction {
	if d == DirectionUnknown || o == DirectionUnknown {
		return DirectionUnknown
	}
	return directionOf(d.Sends() && o.Sends(), d.Receives() && o.Receives())
}

func directionOf(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	default:
		return Inactive
	}
}
