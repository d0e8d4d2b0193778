package testbed

import (
	_ "embed" // the browser phone's page
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// sipjsVersion is the SIP.js release the browser phone runs (from the npm
// registry: its lib/ is plain ES modules a browser imports as they are).
const sipjsVersion = "0.21.2"

//go:embed web/phone.html
var browserPhonePage []byte

// BrowserPhoneOptions configure a browser phone.
type BrowserPhoneOptions struct {
	// WS is the registrar's WebSocket URL (ws://host:port/).
	WS string
	// AOR is the phone's address of record; User and Password its digest
	// credentials.
	AOR, User, Password string
	// Microphone is a WAV file Chromium's fake capture device plays (it
	// loops).
	Microphone string
	// Tones are the frequencies whose levels the phone measures in what it
	// hears (default 440 and 1000 Hz).
	Tones []float64
}

// BrowserPhone is a SIP phone in headless Chromium: SIP.js over
// WebSocket, the browser's WebRTC for media, a fake microphone playing a
// WAV file, and a Web Audio analyser on what it hears. It answers every
// call.
type BrowserPhone struct {
	b    *Browser
	page *Page
}

// sipjsOnce installs SIP.js once per test binary.
var (
	sipjsOnce sync.Once
	sipjsDir  string
	sipjsErr  error
)

// sipjsLib returns the folder of SIP.js's lib/, installing the package
// from the npm registry into the user's cache the first time.
func sipjsLib() (string, error) {
	sipjsOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			sipjsErr = err
			return
		}
		dir := filepath.Join(cache, "softphone-testbed", "sip.js-"+sipjsVersion)
		lib := filepath.Join(dir, "node_modules", "sip.js", "lib")
		if _, err := os.Stat(filepath.Join(lib, "api", "index.js")); err == nil {
			sipjsDir = lib
			return
		}
		// Install beside, then move into place: a concurrent test binary
		// never sees half a package.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			sipjsErr = err
			return
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
		if err != nil {
			sipjsErr = err
			return
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", tmp, "sip.js@"+sipjsVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			sipjsErr = fmt.Errorf("testbed: npm install sip.js@%s: %v\n%s", sipjsVersion, err, out)
			return
		}
		if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
			if _, statErr := os.Stat(filepath.Join(lib, "api", "index.js")); statErr != nil {
				sipjsErr = err
				return
			}
		}
		sipjsDir = lib
	})
	return sipjsDir, sipjsErr
}

// StartBrowserPhone serves the phone's page on loopback, opens it in a
// headless Chromium with a fake microphone and loopback ICE candidates,
// and waits until the phone registered.
func StartBrowserPhone(t TB, o BrowserPhoneOptions) *BrowserPhone {
	t.Helper()
	Require(t, "chromium", "npm")
	lib, err := sipjsLib()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/phone.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(browserPhonePage)
	})
	mux.Handle("/sipjs/", http.StripPrefix("/sipjs/", http.FileServer(http.Dir(lib))))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	b := StartChromiumWith(t, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
		"--use-file-for-fake-audio-capture="+o.Microphone, "--allow-loopback-in-peer-connection",
		"--autoplay-policy=no-user-gesture-required")
	tones := o.Tones
	if len(tones) == 0 {
		tones = []float64{440, 1000}
	}
	cfg, _ := json.Marshal(map[string]any{"ws": o.WS, "aor": o.AOR, "user": o.User, "password": o.Password, "tones": tones})
	page := b.Open(t, "http://"+ln.Addr().String()+"/phone.html#"+url.PathEscape(string(cfg)))
	p := &BrowserPhone{b: b, page: page}
	if !WaitFor(20*time.Second, func() bool { return p.page.Eval(t, "window.peer && window.peer.registered") }) {
		t.Fatalf("browser phone: not registered: %s (page errors %v)", p.Errors(t), b.Exceptions())
	}
	return p
}

// Call places a call to target.
func (p *BrowserPhone) Call(t TB, target string) {
	t.Helper()
	tj, _ := json.Marshal(target)
	p.page.Value(t, "window.call("+string(tj)+")", nil)
}

// Hangup ends (or cancels, or rejects) the current call.
func (p *BrowserPhone) Hangup(t TB) {
	t.Helper()
	p.page.Value(t, "window.hangup()", nil)
}

// State is the current call's SIP.js session state ("Established",
// "Terminated", ...), "" before any call.
func (p *BrowserPhone) State(t TB) string {
	t.Helper()
	var s string
	p.page.Value(t, "window.peer.state", &s)
	return s
}

// Level is the best level of hz the phone heard over the last two
// seconds (an amplitude: 1 is full scale).
func (p *BrowserPhone) Level(t TB, hz float64) float64 {
	t.Helper()
	var v float64
	p.page.Value(t, fmt.Sprintf("(window.peer.levels[%v] || {v: 0}).v", hz), &v)
	return v
}

// Errors are the errors the page noted.
func (p *BrowserPhone) Errors(t TB) []string {
	t.Helper()
	var e []string
	p.page.Value(t, "window.peer ? window.peer.errors : ['no page state']", &e)
	return e
}
