package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// TestStatusPageInChromium loads the status page in headless Chromium
// against a real Server with the fake phone and drives it over the Chrome
// DevTools Protocol: the ringing call shows up, a mouse click on Answer
// reaches Phone.Answer, a call event re-renders the list, and Hold works
// from the keyboard.
func TestStatusPageInChromium(t *testing.T) {
	testbed.Require(t, "chromium")
	f := newFakePhone()
	f.status.Verdict = json.RawMessage(`{"capture":[{"name":"Jabra Mic","id":"j1","default":false},{"name":"Laptop Mic","id":"l1","default":true}],` +
		`"playback":[{"name":"Jabra Out","id":"j2","default":false}],"input":{"name":"Jabra Mic","id":"j1","fallback":false},` +
		`"output":{"name":"Jabra Out","id":"j2","fallback":true},"headset_available":true,"should_answer":"true","reject_code":480,"outgoing_allowed":true,"reason":"headset Jabra present"}`)
	s, _ := startServer(t, f, Options{})

	dir := testbed.Dir(t, "chromium")
	// The profile lives outside t.TempDir: Chromium's helper processes may
	// still be writing to it for a moment after the browser exits.
	profile, err := os.MkdirTemp("", "softphone-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !testbed.WaitFor(10*time.Second, func() bool { return os.RemoveAll(profile) == nil }) {
			t.Logf("chromium profile %s not removed", profile)
		}
	})
	p := testbed.Start(t, dir, nil, "chromium",
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+profile,
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank")
	line, err := p.WaitLine("DevTools listening on ws://", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wsURL := line[strings.Index(line, "ws://"):]

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := dialCDP(ctx, wsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	defer func() {
		// Close the browser over the protocol: it waits for its helpers.
		_ = c.call(ctx, "", "Browser.close", nil, nil)
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
		}
	}()

	var target struct{ TargetID string }
	c.mustCall(t, ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	c.mustCall(t, ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	sid := att.SessionID
	c.mustCall(t, ctx, sid, "Page.enable", nil, nil)
	c.mustCall(t, ctx, sid, "Runtime.enable", nil, nil)
	loaded := c.expect("Page.loadEventFired", sid)
	c.mustCall(t, ctx, sid, "Page.navigate", map[string]any{"url": PageURL(s.Addr(), testToken)}, nil)
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatal("page never loaded")
	}
	sub := waitSub(t, f) // the page follows /v1/events

	answer := `#calls button[data-action="answer"][data-call="c1"]`
	pos := c.waitFor(t, ctx, sid, answer)
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
		got := c.waitFor(t, ctx, sid, check.sel)
		if !strings.Contains(got.Text, check.want) {
			t.Errorf("%s: %q, want %q", check.sel, got.Text, check.want)
		}
	}
	var a11y struct{ Value bool }
	c.mustCall(t, ctx, sid, "Runtime.evaluate", map[string]any{"returnByValue": true,
		"expression": `document.querySelector('#calls').getAttribute('aria-live') === 'polite' && ` +
			`document.querySelector('button[data-action="answer"]').getAttribute('aria-label') === 'Answer call from Alice' && ` +
			`!document.querySelector('#capture li:not([aria-current])').hasAttribute('aria-current')`}, &struct {
		Result *struct{ Value bool }
	}{Result: &a11y})
	if !a11y.Value {
		t.Error("aria-live, button label or aria-current missing")
	}

	// A real mouse click on Answer.
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		c.mustCall(t, ctx, sid, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": pos.X, "y": pos.Y, "button": "left", "clickCount": 1}, nil)
	}
	waitAction(t, f, "answer c1")

	// The phone reports the call active: the page re-reads the status and
	// offers Hold instead of Answer.
	f.setCalls(phone.CallInfo{ID: "c1", Direction: "incoming", State: "active", Remote: "sip:alice@example.com", RemoteName: "Alice"})
	if !sub.send(callEvent(1, "c1", "active")) {
		t.Fatal("page dropped the event stream")
	}
	hold := `#calls button[data-action="hold"][data-call="c1"]`
	c.waitFor(t, ctx, sid, hold)
	c.mustCall(t, ctx, sid, "Runtime.evaluate", map[string]any{"expression": `document.querySelector('` + hold + `').focus()`}, nil)
	for _, typ := range []string{"keyDown", "keyUp"} {
		params := map[string]any{"type": typ, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
		if typ == "keyDown" {
			params["text"] = "\r"
		}
		c.mustCall(t, ctx, sid, "Input.dispatchKeyEvent", params, nil)
	}
	waitAction(t, f, "hold c1")
	if got := c.waitFor(t, ctx, sid, `#calls:not(:has(button[data-action="answer"]))`); got.Text == "" {
		t.Error("call list empty after the call went active")
	}
	for _, e := range c.exceptions() {
		t.Errorf("page script error: %s", e)
	}
}

// cdp is a minimal Chrome DevTools Protocol client over one websocket:
// commands are matched to replies by id; events go to waiters.
type cdp struct {
	conn net.Conn
	wmu  sync.Mutex

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpMessage
	waiters []cdpWaiter
	errs    []string
	readErr error

	wg sync.WaitGroup
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type cdpWaiter struct {
	method, session string
	ch              chan struct{}
}

func dialCDP(ctx context.Context, url string) (*cdp, error) {
	conn, _, _, err := ws.Dial(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("devtools: %w", err)
	}
	c := &cdp{conn: conn, pending: map[int]chan cdpMessage{}}
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

func (c *cdp) readLoop() {
	defer c.wg.Done()
	for {
		b, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		c.mu.Lock()
		if m.ID != 0 {
			if ch, ok := c.pending[m.ID]; ok {
				ch <- m
				delete(c.pending, m.ID)
			}
		} else {
			if m.Method == "Runtime.exceptionThrown" {
				c.errs = append(c.errs, string(m.Params))
			}
			kept := c.waiters[:0]
			for _, w := range c.waiters {
				if w.method == m.Method && w.session == m.SessionID {
					close(w.ch)
					continue
				}
				kept = append(kept, w)
			}
			c.waiters = kept
		}
		c.mu.Unlock()
	}
}

// expect returns a channel closed at the next event method on session.
func (c *cdp) expect(method, session string) <-chan struct{} {
	ch := make(chan struct{})
	c.mu.Lock()
	c.waiters = append(c.waiters, cdpWaiter{method, session, ch})
	c.mu.Unlock()
	return ch
}

func (c *cdp) exceptions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

func (c *cdp) call(ctx context.Context, session, method string, params any, out any) error {
	c.mu.Lock()
	if c.readErr != nil {
		c.mu.Unlock()
		return fmt.Errorf("devtools: connection lost: %w", c.readErr)
	}
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	if params == nil {
		p = []byte("{}")
	}
	b, err := json.Marshal(cdpMessage{ID: id, SessionID: session, Method: method, Params: p})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	err = wsutil.WriteClientText(c.conn, b)
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("devtools: send %s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return errors.New("devtools: connection lost waiting for " + method)
		}
		if m.Error != nil {
			return fmt.Errorf("devtools: %s: %s", method, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devtools: %s: %w", method, ctx.Err())
	}
}

func (c *cdp) mustCall(t *testing.T, ctx context.Context, session, method string, params, out any) {
	t.Helper()
	if err := c.call(ctx, session, method, params, out); err != nil {
		t.Fatal(err)
	}
}

// found is an element waitFor found: its centre and text.
type found struct {
	X, Y float64
	Text string
}

// waitFor waits, inside the page, for an element matching sel to appear
// (a MutationObserver, no polling), and returns its centre and text.
func (c *cdp) waitFor(t *testing.T, ctx context.Context, session, sel string) found {
	t.Helper()
	selJSON, _ := json.Marshal(sel)
	expr := `new Promise((resolve, reject) => {
  const sel = ` + string(selJSON) + `;
  let obs;
  const guard = setTimeout(() => { obs.disconnect(); reject(new Error('no ' + sel + ' in: ' + document.body.innerText)); }, 20000);
  const check = () => {
    const el = document.querySelector(sel);
    if (!el) return;
    clearTimeout(guard);
    obs.disconnect();
    const r = el.getBoundingClientRect();
    resolve({X: r.x + r.width / 2, Y: r.y + r.height / 2, Text: el.innerText});
  };
  obs = new MutationObserver(check);
  obs.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  check();
})`
	var res struct {
		Result           struct{ Value found }
		ExceptionDetails *struct {
			Exception struct{ Description string }
		}
	}
	c.mustCall(t, ctx, session, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		t.Fatalf("waiting for %s: %s", sel, res.ExceptionDetails.Exception.Description)
	}
	return res.Result.Value
}

func (c *cdp) close() {
	_ = c.conn.Close()
	c.wg.Wait()
}
