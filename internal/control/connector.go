package control

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/softphone/softphone/internal/phone"
)

// The connector routes sit at the root beside /v1/ for agent desktops
// written against a softphone-connector contract:
//
//	GET    /session   devices, voice quality, calls, connections, status
//	DELETE /session   log out: StopConnections
//	POST   /register  StartConnections     DELETE /register  StopConnections
//	POST   /audio     levels and mute      DELETE /calls     ReleaseAll
//
// Every answer is JSON; every field of a Session is always present and
// its lists are [] rather than null. API.md holds the status mapping.

// SessionStatus sums up the connections of a session.
type SessionStatus int

// The session statuses; SessionUnknown is the zero value.
const (
	SessionUnknown      SessionStatus = iota
	SessionConnected                  // every connection registered
	SessionPartial                    // some registered, some not
	SessionConnecting                 // none registered yet, some registering
	SessionDisconnected               // none registered or registering
	SessionStandalone                 // no registrar: direct calls only
)

var sessionStatusNames = [...]string{
	SessionUnknown:      "unknown",
	SessionConnected:    "connected",
	SessionPartial:      "partial",
	SessionConnecting:   "connecting",
	SessionDisconnected: "disconnected",
	SessionStandalone:   "standalone",
}

// String returns the status as it appears on the wire.
func (s SessionStatus) String() string {
	if s < 0 || int(s) >= len(sessionStatusNames) {
		return sessionStatusNames[SessionUnknown]
	}
	return sessionStatusNames[s]
}

// ParseSessionStatus is the inverse of String; an unknown name is
// SessionUnknown with an error.
func ParseSessionStatus(name string) (SessionStatus, error) {
	for i, n := range sessionStatusNames {
		if n == name && SessionStatus(i) != SessionUnknown {
			return SessionStatus(i), nil
		}
	}
	return SessionUnknown, fmt.Errorf("control: unknown session status %q", name)
}

// MarshalText writes the status name.
func (s SessionStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status name; an unknown one is SessionUnknown.
func (s *SessionStatus) UnmarshalText(b []byte) error {
	*s, _ = ParseSessionStatus(string(b))
	return nil
}

// sessionStatusOf derives the session status from the registrations.
func sessionStatusOf(st phone.Status) SessionStatus {
	var registered, registering, total int
	for _, r := range st.Registrations {
		switch r.State {
		case "registered":
			registered++
		case "registering":
			registering++
		case "standalone":
			continue
		}
		total++
	}
	switch {
	case total == 0 && st.Standalone:
		return SessionStandalone
	case total == 0:
		return SessionDisconnected
	case registered == total:
		return SessionConnected
	case registered > 0:
		return SessionPartial
	case registering > 0:
		return SessionConnecting
	default:
		return SessionDisconnected
	}
}

// Session is the body of GET /session.
type Session struct {
	Devices        phone.AudioState `json:"devices"`
	Phone          SessionPhone     `json:"phone"`
	Connectivities Connectivities   `json:"connectivities"`
	Status         SessionStatus    `json:"status"`
}

// SessionPhone is the voice quality and the calls of a session.
type SessionPhone struct {
	LocalMOS  float64         `json:"local_mos"`
	RTTMillis int             `json:"rtt_ms"`
	VQAlarmOn bool            `json:"vq_alarm_on"`
	Calls     []ConnectorCall `json:"calls"`
}

// ConnectorCall is one call as the connector routes show it.
type ConnectorCall struct {
	UUID       string     `json:"uuid"`
	State      string     `json:"state"`
	Direction  string     `json:"direction"`
	Remote     string     `json:"remote"`
	RemoteName string     `json:"remote_name"`
	Connection int        `json:"connection"`
	Held       bool       `json:"held"`
	Started    time.Time  `json:"started"`
	Answered   *time.Time `json:"answered"` // null until answered
}

// Connectivities lists the SIP connections of a session.
type Connectivities struct {
	Protocol    string       `json:"protocol"` // always "sip"
	Connections []Connection `json:"connections"`
}

// Connection is one [connectivity.N] as the connector routes show it.
type Connection struct {
	Connection int    `json:"connection"`
	Server     string `json:"server"`
	User       string `json:"user"`
	Transport  string `json:"transport"`
	State      string `json:"state"`
	Detail     string `json:"detail"`
}

// session builds the Session from the phone's answers.
func session(st phone.Status, audio phone.AudioState, q phone.Quality) Session {
	s := Session{
		Devices: audio,
		Phone: SessionPhone{
			LocalMOS:  q.LocalMOS,
			RTTMillis: q.RTTMillis,
			VQAlarmOn: q.VQAlarmOn,
			Calls:     make([]ConnectorCall, 0, len(st.Calls)),
		},
		Connectivities: Connectivities{Protocol: "sip", Connections: make([]Connection, 0, len(st.Registrations))},
		Status:         sessionStatusOf(st),
	}
	for _, c := range st.Calls {
		cc := ConnectorCall{
			UUID: c.ID, State: c.State, Direction: c.Direction, Remote: c.Remote, RemoteName: c.RemoteName,
			Connection: c.Connection, Held: c.Held, Started: c.Started,
		}
		if !c.Answered.IsZero() {
			a := c.Answered
			cc.Answered = &a
		}
		s.Phone.Calls = append(s.Phone.Calls, cc)
	}
	for _, r := range st.Registrations {
		s.Connectivities.Connections = append(s.Connectivities.Connections, Connection{
			Connection: r.Connection, Server: r.Server, User: r.User, Transport: r.Protocol, State: r.State, Detail: r.Detail,
		})
	}
	return s
}

// AudioSide is one side of a POST /audio body; nil fields stay as they
// are. Name is read-only: accepted so a client may send back what GET
// /session gave, and ignored.
type AudioSide struct {
	Name   *string `json:"name,omitempty"`
	Volume *int    `json:"volume,omitempty"`
	Muted  *bool   `json:"muted,omitempty"`
}

// AudioRequest is the body of POST /audio: the devices object of a
// Session, any part left out. HeadsetUsed is read-only and ignored.
type AudioRequest struct {
	Speaker     *AudioSide `json:"speaker,omitempty"`
	Microphone  *AudioSide `json:"microphone,omitempty"`
	HeadsetUsed *bool      `json:"headset_used,omitempty"`
}

// Volume bounds of POST /audio.
const (
	MinVolume = 0
	MaxVolume = 100
)

// change turns the request into a phone.AudioChange, refusing volumes out
// of 0–100 and a request that changes nothing.
func (a AudioRequest) change() (phone.AudioChange, error) {
	var c phone.AudioChange
	for _, side := range []struct {
		name   string
		in     *AudioSide
		volume **int
		muted  **bool
	}{
		{"speaker", a.Speaker, &c.SpeakerVolume, &c.SpeakerMuted},
		{"microphone", a.Microphone, &c.MicrophoneVolume, &c.MicrophoneMuted},
	} {
		if side.in == nil {
			continue
		}
		if v := side.in.Volume; v != nil {
			if *v < MinVolume || *v > MaxVolume {
				return phone.AudioChange{}, fmt.Errorf("control: audio: %s volume %d is not in %d-%d: %w",
					side.name, *v, MinVolume, MaxVolume, phone.ErrInvalidArgument)
			}
			vol := *v
			*side.volume = &vol
		}
		if m := side.in.Muted; m != nil {
			muted := *m
			*side.muted = &muted
		}
	}
	if c == (phone.AudioChange{}) {
		return c, fmt.Errorf("control: audio: nothing to change (give a volume or muted): %w", phone.ErrInvalidArgument)
	}
	return c, nil
}

// Released is the body of DELETE /calls.
type Released struct {
	Released int    `json:"released"`
	Error    string `json:"error,omitempty"` // set when some call could not be ended
}

func (s *Server) getSession(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, session(s.phone.Status(), s.phone.Audio(), s.phone.Quality()))
}

func (s *Server) startConnections(w http.ResponseWriter, r *http.Request) {
	if err := s.phone.StartConnections(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.getSession(w, r)
}

func (s *Server) stopConnections(w http.ResponseWriter, r *http.Request) {
	if err := s.phone.StopConnections(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.getSession(w, r)
}

func (s *Server) setAudio(w http.ResponseWriter, r *http.Request) {
	var req AudioRequest
	if !s.decode(w, r, &req) {
		return
	}
	c, err := req.change()
	if err == nil {
		err = s.phone.SetAudio(c)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.phone.Audio())
}

// releaseAll always answers 200: the desktop learns how many calls ended,
// and the reason when some could not be.
func (s *Server) releaseAll(w http.ResponseWriter, r *http.Request) {
	n, err := s.phone.ReleaseAll(r.Context())
	body := Released{Released: n}
	if err != nil {
		s.log.Warn("control release all", "released", n, "err", err)
		body.Error = err.Error()
	}
	s.writeJSON(w, http.StatusOK, body)
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	rep, err := s.phone.Reload()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rep.Applied == nil {
		rep.Applied = []string{}
	}
	if rep.NotApplied == nil {
		rep.NotApplied = []string{}
	}
	if len(rep.Verdict) == 0 {
		rep.Verdict = json.RawMessage("null")
	}
	s.writeJSON(w, http.StatusOK, rep)
}
