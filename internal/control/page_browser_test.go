package control

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// TestStatusPageInChromium loads the status page in headless Chromium
// against a real Server with the fake phone (cmd/softphone's
// TestStatusPageAnswersARealCall does the same against the daemon) and drives it over the Chrome
// DevTools Protocol: the ringing call shows up, a mouse click on Answer
// reaches Phone.Answer, a call event re-renders the list, Hold works
// from the keyboard, and a click that straddles a refresh is not lost.
func TestStatusPageInChromium(t *testing.T) {
	testbed.Require(t, "chromium")
	f := newFakePhone()
	f.status.Verdict = json.RawMessage(`{"capture":[{"name":"Jabra Mic","id":"j1","default":false},{"name":"Laptop Mic","id":"l1","default":true}],` +
		`"playback":[{"name":"Jabra Out","id":"j2","default":false}],"input":{"name":"Jabra Mic","id":"j1","fallback":false},` +
		`"output":{"name":"Jabra Out","id":"j2","fallback":true},"headset_available":true,"should_answer":"true","reject_code":480,"outgoing_allowed":true,"reason":"headset Jabra present"}`)
	s, _ := startServer(t, f, Options{})

	b := testbed.StartChromium(t)
	pg := b.Open(t, PageURL(s.Addr(), testToken))
	sub := waitSub(t, f) // the page follows /v1/events

	// The token left the address (and the history entry) once read.
	pg.WaitText(t, `#link`, "Live")
	if !pg.Eval(t, `location.hash === '' && !location.href.includes('`+testToken+`')`) {
		t.Error("the token is still in the page's address")
	}

	answer := `#calls button[data-action="answer"][data-call="c1"]`
	pos := pg.WaitFor(t, answer)
	for _, check := range []struct{ sel, want string }{
		{`#calls li[data-call="c1"] .who`, "Alice <sip:alice@example.com>"},
		{`#calls li[data-call="c1"] .state`, "incoming, ringing"},
		{`#connections tr[data-connection="0"]`, "registered"},
		{`#connections tr[data-connection="1"]`, "403 Forbidden"},
		{`#verdict-reason`, "headset Jabra present"},
		{`#capture li[aria-current="true"]`, "Jabra Mic (selected)"},
		{`#playback li[aria-current="true"]`, "Jabra Out (selected, fallback)"},
		{`#link`, "Live"},
	} {
		got := pg.WaitFor(t, check.sel)
		if !strings.Contains(got.Text, check.want) {
			t.Errorf("%s: %q, want %q", check.sel, got.Text, check.want)
		}
	}
	if !pg.Eval(t, `document.querySelector('#calls').getAttribute('aria-live') === 'polite' && `+
		`document.querySelector('button[data-action="answer"]').getAttribute('aria-label') === 'Answer call from Alice' && `+
		`!document.querySelector('#capture li:not([aria-current])').hasAttribute('aria-current')`) {
		t.Error("aria-live, button label or aria-current missing")
	}

	// A real mouse click on Answer.
	pg.Click(t, pos)
	waitAction(t, f, "answer c1")

	// The phone reports the call active: the page re-reads the status and
	// offers Hold instead of Answer.
	f.setCalls(phone.CallInfo{ID: "c1", Direction: "incoming", State: "active", Remote: "sip:alice@example.com", RemoteName: "Alice"})
	if !sub.send(callEvent(1, "c1", "active")) {
		t.Fatal("page dropped the event stream")
	}
	hold := `#calls button[data-action="hold"][data-call="c1"]`
	pg.WaitFor(t, hold)
	pg.PressEnter(t, hold)
	waitAction(t, f, "hold c1")
	if got := pg.WaitFor(t, `#calls:not(:has(button[data-action="answer"]))`); got.Text == "" {
		t.Error("call list empty after the call went active")
	}

	// An agent presses Hang up just as an event arrives: the page re-reads
	// the status (a connection changed, the call did not) between the mouse
	// press and its release, and the click still reaches the phone.
	hangup := pg.WaitFor(t, `#calls button[data-action="hangup"][data-call="c1"]`)
	mouse := func(typ string) {
		pg.Call(t, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": hangup.X, "y": hangup.Y, "button": "left", "clickCount": 1}, nil)
	}
	mouse("mousePressed")
	f.mu.Lock()
	f.status.Registrations[1].State, f.status.Registrations[1].Detail = "registering", "retry"
	f.mu.Unlock()
	if !sub.send(callEvent(2, "c1", "active")) {
		t.Fatal("page dropped the event stream")
	}
	pg.WaitText(t, `#connections tr[data-connection="1"]`, "registering")
	mouse("mouseReleased")
	waitAction(t, f, "hangup c1")
	for _, e := range b.Exceptions() {
		t.Errorf("page script error: %s", e)
	}
}

// TestStatusPageTypedToken opens the page without a token: the page asks
// for it, and a typed token goes Live without ever entering the address.
func TestStatusPageTypedToken(t *testing.T) {
	testbed.Require(t, "chromium")
	f := newFakePhone()
	s, _ := startServer(t, f, Options{})
	b := testbed.StartChromium(t)
	pg := b.Open(t, "http://"+s.Addr()+"/")
	pg.WaitText(t, `#link`, "Token needed")
	if !pg.Eval(t, `(() => { document.querySelector('#token-input').value = '`+testToken+`'; `+
		`document.querySelector('#token-form').requestSubmit(); return true; })()`) {
		t.Fatal("could not type the token")
	}
	waitSub(t, f)
	pg.WaitText(t, `#link`, "Live")
	if !pg.Eval(t, `location.hash === '' && !location.href.includes('`+testToken+`') && document.querySelector('#token-input').value === ''`) {
		t.Error("the typed token went into the address or stayed in the form")
	}
	for _, e := range b.Exceptions() {
		t.Errorf("page script error: %s", e)
	}
}
