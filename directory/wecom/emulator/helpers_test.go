package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/orgsync/orgsync/internal/fakeclock"
)

// These tests talk to the emulator over real HTTP with plain net/http and
// JSON, as any WeCom SDK would; they never use the client package.

// fakeClock is an injectable Options.Now.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock { return fakeclock.New(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) }

type env struct {
	t     testing.TB
	emu   *Server
	srv   *httptest.Server
	clock *fakeClock
	token string // a contacts_sync_edit token
}

const (
	testCorp   = "wwtestcorp0001"
	editSecret = "edit-secret"
	readSecret = "read-secret"
	appSecret  = "app-secret"
)

// newEnv starts an emulator with an edit, a read and an app secret, a fake
// clock (unless opts.Now is set) and fetches an edit token.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	if opts.CorpID == "" {
		opts.CorpID = testCorp
	}
	if opts.Secrets == nil {
		opts.Secrets = []SecretSpec{
			{Secret: editSecret, Role: RoleContactsSyncEdit},
			{Secret: readSecret, Role: RoleContactsSyncRead},
			{Secret: appSecret, Role: RoleApp},
		}
	}
	e := &env{t: t}
	if opts.Now == nil {
		e.clock = newClock()
		opts.Now = e.clock.Now
	}
	emu, err := New(opts, zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.emu = emu
	e.srv = httptest.NewServer(emu)
	t.Cleanup(e.srv.Close)
	e.token = e.tokenFor(editSecret)
	return e
}

type resp map[string]any

func (r resp) code() int {
	v, ok := r["errcode"].(float64)
	if !ok {
		return -999
	}
	return int(v)
}

func (r resp) str(k string) string { s, _ := r[k].(string); return s }

func (r resp) list(k string) []any { l, _ := r[k].([]any); return l }

func (e *env) tokenFor(secret string) string {
	e.t.Helper()
	r := e.raw(http.MethodGet, "/cgi-bin/gettoken?corpid="+testCorp+"&corpsecret="+url.QueryEscape(secret), nil, "")
	if r.code() != 0 {
		e.t.Fatalf("gettoken: %v", r)
	}
	return r.str("access_token")
}

// raw sends a request and decodes the JSON answer; it fails the test on a
// non-200 status.
func (e *env) raw(method, path string, body []byte, contentType string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("%s %s: HTTP %d %s", method, path, res.StatusCode, b)
	}
	var out resp
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
	}
	return out
}

// get calls a GET API with the edit token plus params ("k", "v", ...).
func (e *env) get(api string, kv ...string) resp {
	e.t.Helper()
	return e.getWith(e.token, api, kv...)
}

func (e *env) getWith(tok, api string, kv ...string) resp {
	e.t.Helper()
	q := url.Values{"access_token": {tok}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return e.raw(http.MethodGet, "/cgi-bin/"+api+"?"+q.Encode(), nil, "")
}

// post calls a POST API with the edit token and a JSON body (a string is
// sent as is).
func (e *env) post(api string, body any) resp {
	e.t.Helper()
	return e.postWith(e.token, api, body)
}

func (e *env) postWith(tok, api string, body any) resp {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.raw(http.MethodPost, "/cgi-bin/"+api+"?access_token="+url.QueryEscape(tok), b, "application/json")
}

// upload posts a multipart media/upload.
func (e *env) upload(typ, field, filename string, data []byte) resp {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	return e.raw(http.MethodPost, "/cgi-bin/media/upload?access_token="+url.QueryEscape(e.token)+"&type="+typ, buf.Bytes(), mw.FormDataContentType())
}

// expect fails unless r has errcode want.
func expect(t testing.TB, r resp, want int) {
	t.Helper()
	if r.code() != want {
		t.Fatalf("errcode %d, want %d: %v", r.code(), want, r)
	}
}

type m = map[string]any

// mkDept creates a department and returns its id.
func (e *env) mkDept(name string, parent int64, extra ...any) int64 {
	e.t.Helper()
	b := m{"name": name, "parentid": parent}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	r := e.post("department/create", b)
	expect(e.t, r, 0)
	return int64(r["id"].(float64))
}

// mkUser creates a member in the given departments with a unique mobile.
func (e *env) mkUser(userid string, depts ...int64) {
	e.t.Helper()
	if len(depts) == 0 {
		depts = []int64{1}
	}
	b := m{"userid": userid, "name": "Name " + userid, "email": userid + "@example.com", "department": depts}
	expect(e.t, e.post("user/create", b), 0)
}
