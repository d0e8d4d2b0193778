package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Browser is a headless Chromium driven over the Chrome DevTools Protocol
// (one websocket, commands matched to replies by id). Tests open pages in
// it and click, type and read the DOM the way a user would.
type Browser struct {
	proc *Process
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

// Page is one tab of a Browser.
type Page struct {
	b   *Browser
	sid string
}

// Found is an element Page.WaitFor found: its centre in the viewport and
// its text.
type Found struct {
	X, Y float64
	Text string
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

// cdpTimeout bounds every DevTools command.
const cdpTimeout = 30 * time.Second

// StartChromium starts headless Chromium with a throw-away profile and
// connects to its DevTools endpoint; t.Cleanup closes the browser.
func StartChromium(t TB) *Browser {
	t.Helper()
	return StartChromiumWith(t)
}

// StartChromiumWith is StartChromium with more command-line flags (a
// fake microphone for WebRTC, for example).
func StartChromiumWith(t TB, flags ...string) *Browser {
	t.Helper()
	dir := Dir(t, "chromium")
	// The profile lives outside t.TempDir: Chromium's helper processes may
	// still be writing to it for a moment after the browser exits.
	profile, err := os.MkdirTemp("", "softphone-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !WaitFor(10*time.Second, func() bool { return os.RemoveAll(profile) == nil }) {
			t.Logf("chromium profile %s not removed", profile)
		}
	})
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile,
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"}
	args = append(append(args, flags...), "about:blank")
	p := Start(t, dir, nil, "chromium", args...)
	line, err := p.WaitLine("DevTools listening on ws://", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cdpTimeout)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, strings.TrimSpace(line[strings.Index(line, "ws://"):]))
	if err != nil {
		t.Fatalf("chromium devtools: %v", err)
	}
	b := &Browser{proc: p, conn: conn, pending: map[int]chan cdpMessage{}}
	b.wg.Add(1)
	go b.readLoop()
	t.Cleanup(func() {
		// Close the browser over the protocol: it waits for its helpers.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.call(ctx, "", "Browser.close", nil, nil)
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
		}
		_ = b.conn.Close()
		b.wg.Wait()
	})
	return b
}

func (b *Browser) readLoop() {
	defer b.wg.Done()
	for {
		raw, err := wsutil.ReadServerText(b.conn)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else {
			if m.Method == "Runtime.exceptionThrown" {
				b.errs = append(b.errs, string(m.Params))
			}
			kept := b.waiters[:0]
			for _, w := range b.waiters {
				if w.method == m.Method && w.session == m.SessionID {
					close(w.ch)
					continue
				}
				kept = append(kept, w)
			}
			b.waiters = kept
		}
		b.mu.Unlock()
	}
}

// expect returns a channel closed at the next event method on session.
func (b *Browser) expect(method, session string) <-chan struct{} {
	ch := make(chan struct{})
	b.mu.Lock()
	b.waiters = append(b.waiters, cdpWaiter{method, session, ch})
	b.mu.Unlock()
	return ch
}

// Exceptions returns the script errors every page has thrown so far.
func (b *Browser) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

func (b *Browser) call(ctx context.Context, session, method string, params any, out any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("devtools: connection lost: %w", b.readErr)
	}
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	p := []byte("{}")
	if params != nil {
		var err error
		if p, err = json.Marshal(params); err != nil {
			return err
		}
	}
	msg, err := json.Marshal(cdpMessage{ID: id, SessionID: session, Method: method, Params: p})
	if err != nil {
		return err
	}
	b.wmu.Lock()
	err = wsutil.WriteClientText(b.conn, msg)
	b.wmu.Unlock()
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

// Call sends one DevTools command for this page and decodes its result
// into out (when not nil); an error fails t.
func (p *Page) Call(t TB, method string, params, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cdpTimeout)
	defer cancel()
	if err := p.b.call(ctx, p.sid, method, params, out); err != nil {
		t.Fatal(err)
	}
}

// Open opens url in a new tab and waits for its load event.
func (b *Browser) Open(t TB, url string) *Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cdpTimeout)
	defer cancel()
	must := func(session, method string, params, out any) {
		t.Helper()
		if err := b.call(ctx, session, method, params, out); err != nil {
			t.Fatal(err)
		}
	}
	var target struct{ TargetID string }
	must("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	must("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	p := &Page{b: b, sid: att.SessionID}
	must(p.sid, "Page.enable", nil, nil)
	must(p.sid, "Runtime.enable", nil, nil)
	loaded := b.expect("Page.loadEventFired", p.sid)
	must(p.sid, "Page.navigate", map[string]any{"url": url}, nil)
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatalf("chromium: %s never loaded", url)
	}
	return p
}

// WaitFor waits, inside the page, for an element matching the CSS
// selector sel (a MutationObserver, no polling; at most 20 s) and returns
// its centre and text.
func (p *Page) WaitFor(t TB, sel string) Found {
	t.Helper()
	return p.WaitText(t, sel, "")
}

// WaitText is WaitFor for an element whose text contains want.
func (p *Page) WaitText(t TB, sel, want string) Found {
	t.Helper()
	selJSON, _ := json.Marshal(sel)
	wantJSON, _ := json.Marshal(want)
	expr := `new Promise((resolve, reject) => {
  const sel = ` + string(selJSON) + `, want = ` + string(wantJSON) + `;
  let obs;
  const guard = setTimeout(() => { obs.disconnect(); reject(new Error('no ' + sel + (want ? ' with ' + want : '') + ' in: ' + document.body.innerText)); }, 20000);
  const check = () => {
    const el = document.querySelector(sel);
    if (!el || !el.innerText.includes(want)) return;
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
		Result           struct{ Value Found }
		ExceptionDetails *struct {
			Exception struct{ Description string }
		}
	}
	p.Call(t, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		t.Fatalf("waiting for %s: %s", sel, res.ExceptionDetails.Exception.Description)
	}
	return res.Result.Value
}

// Eval evaluates a JavaScript expression in the page and returns whether
// its value is true.
func (p *Page) Eval(t TB, expr string) bool {
	t.Helper()
	var res struct{ Result *struct{ Value any } }
	p.Call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	return res.Result != nil && res.Result.Value == true
}

// Value evaluates expr (awaiting a promise) and decodes its JSON value
// into out.
func (p *Page) Value(t TB, expr string, out any) {
	t.Helper()
	var res struct {
		Result *struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	p.Call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if e := res.ExceptionDetails; e != nil {
		msg := e.Text
		if e.Exception != nil {
			msg = e.Exception.Description
		}
		t.Fatalf("chromium: %s: %s", expr, msg)
	}
	if res.Result == nil || out == nil {
		return
	}
	if err := json.Unmarshal(res.Result.Value, out); err != nil {
		t.Fatalf("chromium: %s: %v (%s)", expr, err, res.Result.Value)
	}
}

// Click clicks the left mouse button at an element's centre.
func (p *Page) Click(t TB, at Found) {
	t.Helper()
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		p.Call(t, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": at.X, "y": at.Y, "button": "left", "clickCount": 1}, nil)
	}
}

// PressEnter focuses the element matching sel and presses Enter on it.
func (p *Page) PressEnter(t TB, sel string) {
	t.Helper()
	selJSON, _ := json.Marshal(sel)
	if !p.Eval(t, `(() => { const el = document.querySelector(`+string(selJSON)+`); if (!el) return false; el.focus(); return document.activeElement === el; })()`) {
		t.Fatalf("chromium: cannot focus %s", sel)
	}
	for _, typ := range []string{"keyDown", "keyUp"} {
		params := map[string]any{"type": typ, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
		if typ == "keyDown" {
			params["text"] = "\r"
		}
		p.Call(t, "Input.dispatchKeyEvent", params, nil)
	}
}
