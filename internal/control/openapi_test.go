package control

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes checks that openapi.json describes exactly the
// routes and methods the server registers, and that a route's declared
// security matches its access rule.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]json.RawMessage{}
	for path, ops := range doc.Paths {
		for verb, op := range ops {
			if verb == "parameters" {
				continue
			}
			documented[strings.ToUpper(verb)+" "+path] = op
		}
	}
	s := NewServer(Options{Token: testToken}, newFakePhone())
	served := map[string]access{}
	for _, rt := range s.routes() {
		for verb := range rt.methods {
			served[verb+" "+rt.path] = rt.access
		}
	}
	var missing, extra []string
	for k, acc := range served {
		op, ok := documented[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		var o struct {
			Security *[]map[string][]string `json:"security"`
		}
		if err := json.Unmarshal(op, &o); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		open := o.Security != nil && (len(*o.Security) == 0 || hasEmpty(*o.Security))
		if want := acc != accessToken; open != want {
			t.Errorf("%s: documented as open=%v, served with access %v", k, open, acc)
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("served but not in openapi.json: %q", missing)
	}
	if len(extra) > 0 {
		t.Errorf("in openapi.json but not served: %q", extra)
	}
	if len(served) < 30 {
		t.Errorf("only %d routes served", len(served))
	}
}

func hasEmpty(reqs []map[string][]string) bool {
	for _, r := range reqs {
		if len(r) == 0 {
			return true
		}
	}
	return false
}

func TestOpenAPIServedWithoutToken(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{})
	status, h, b := request(t, s, "GET", "/v1/openapi.json", "", "")
	if status != http.StatusOK || h.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
	}
	if !bytes.Equal(b, openAPIDoc) {
		t.Error("served description differs from the embedded one")
	}
}

func TestPageServedWithoutToken(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{})
	tests := []struct {
		path, wantType, wantBody string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/page/app.js" defer></script>`},
		{"/page/app.js", "text/javascript; charset=utf-8", "'/v1/events'"},
		{"/page/style.css", "text/css; charset=utf-8", "focus-visible"},
	}
	for _, tc := range tests {
		status, h, b := request(t, s, "GET", tc.path, "", "")
		if status != 200 {
			t.Errorf("%s: status %d", tc.path, status)
			continue
		}
		if h.Get("Content-Type") != tc.wantType {
			t.Errorf("%s: content type %q", tc.path, h.Get("Content-Type"))
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: security headers %v", tc.path, h)
		}
		if !strings.Contains(string(b), tc.wantBody) {
			t.Errorf("%s: body lacks %q", tc.path, tc.wantBody)
		}
		if strings.Contains(string(b), testToken) {
			t.Errorf("%s: the page holds the token", tc.path)
		}
	}
}
