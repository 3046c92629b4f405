package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/orgsync/orgsync/internal/fakeclock"
)

// fakeClock is a Clock whose Sleep advances time instantly (concurrent
// sleepers move it by the sum of their sleeps). The external tests
// (wecom_test) reach it as FakeClock through export_test.go.
type fakeClock = fakeclock.Clock

func newFakeClock(t time.Time) *fakeClock { return fakeclock.New(t) }

// Special answers of fake handlers.
type (
	dropConn   struct{} // close the connection without answering
	httpStatus int      // answer with this status and an empty body
	rawBody    string   // answer with this exact body
	wecomErr   [2]any   // {code, msg}
	okBody     map[string]any
)

// fakeWeCom is a tiny scripted WeCom for edge cases the emulator cannot
// produce on demand. gettoken issues "tokvalueNNNZ"; other paths are scripted
// per test; every request is recorded.
type fakeWeCom struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	calls     map[string]int
	bodies    map[string][]string
	queries   map[string][]string
	handlers  map[string]func(n int, r *http.Request, body []byte) any
	expiresIn int
	valid     map[string]bool // tokens the fake accepts
}

func newFake(t *testing.T) *fakeWeCom {
	t.Helper()
	f := &fakeWeCom{
		t: t, calls: map[string]int{}, bodies: map[string][]string{}, queries: map[string][]string{},
		handlers: map[string]func(int, *http.Request, []byte) any{}, expiresIn: 7200, valid: map[string]bool{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWeCom) on(api string, h func(n int, r *http.Request, body []byte) any) {
	f.mu.Lock()
	f.handlers[api] = h
	f.mu.Unlock()
}

func (f *fakeWeCom) count(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[api]
}

func (f *fakeWeCom) serve(w http.ResponseWriter, r *http.Request) {
	api := strings.TrimPrefix(r.URL.Path, "/cgi-bin/")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls[api]++
	n := f.calls[api]
	f.bodies[api] = append(f.bodies[api], string(body))
	f.queries[api] = append(f.queries[api], r.URL.RawQuery)
	h := f.handlers[api]
	f.mu.Unlock()

	var ans any
	switch {
	case h != nil:
		ans = h(n, r, body)
	case api == "gettoken":
		tok := fmt.Sprintf("tokvalue%03dZ", n)
		f.mu.Lock()
		f.valid[tok] = true
		exp := f.expiresIn
		f.mu.Unlock()
		ans = okBody{"access_token": tok, "expires_in": exp}
	default:
		ans = okBody{}
	}
	if api != "gettoken" && h == nil {
		f.mu.Lock()
		ok := f.valid[r.URL.Query().Get("access_token")]
		f.mu.Unlock()
		if !ok {
			ans = wecomErr{40014, "invalid access_token"}
		}
	}
	switch a := ans.(type) {
	case dropConn:
		hj, ok := w.(http.Hijacker)
		if !ok {
			f.t.Error("cannot hijack")
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
		}
	case httpStatus:
		w.WriteHeader(int(a))
	case rawBody:
		_, _ = io.WriteString(w, string(a))
	case wecomErr:
		_ = json.NewEncoder(w).Encode(map[string]any{"errcode": a[0], "errmsg": a[1]})
	case okBody:
		m := map[string]any{"errcode": 0, "errmsg": "ok"}
		for k, v := range a {
			m[k] = v
		}
		_ = json.NewEncoder(w).Encode(m)
	default:
		f.t.Errorf("fake: bad answer %T", ans)
	}
}

// invalidateTokens makes the fake reject every token issued so far.
func (f *fakeWeCom) invalidateTokens() {
	f.mu.Lock()
	f.valid = map[string]bool{}
	f.mu.Unlock()
}

const testSecret = "s3cr3t-Contacts-Sync-secret-value"

// newTestClient builds a client for base with fast retries and a logger
// that records everything at debug level.
func newTestClient(t *testing.T, base string, mod func(*Config)) (*Client, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := Config{
		BaseURL: base, CorpID: "ww0123456789", Secret: testSecret,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond,
		Timeout: 5 * time.Second, RatePerMinute: 9000,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, logs
}

// assertNoCredentials fails if any captured log line (message or field)
// or any of the error strings contains the secret or a token.
func assertNoCredentials(t *testing.T, logs *observer.ObservedLogs, errs []error, tokens ...string) {
	t.Helper()
	assertNoLeaks(t, logs, errs, append([]string{testSecret}, tokens...)...)
}

// assertNoLeaks fails t if any captured log line (message and fields,
// JSON-encoded) or any error, printed with %v, %+v and %#v, contains one
// of needles (empty needles are ignored). The external tests reach it as
// AssertNoLeaks through export_test.go.
func assertNoLeaks(t testing.TB, logs *observer.ObservedLogs, errs []error, needles ...string) {
	t.Helper()
	var texts []string
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatalf("encode log entry: %v", err)
		}
		texts = append(texts, buf.String())
		buf.Free()
	}
	for _, err := range errs {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	for _, txt := range texts {
		for _, n := range needles {
			if n != "" && strings.Contains(txt, n) {
				t.Errorf("credential %q leaked in %q", n, txt)
			}
		}
	}
}
