package httpjson

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func secretFile(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenServer issues tokens at its token endpoint and checks them on pages;
// rotate makes every issued token invalid (the server restarted, the token
// was revoked).
type tokenServer struct {
	mu      sync.Mutex
	issued  int
	valid   map[string]bool
	lastReq map[string]any
}

func (ts *tokenServer) issue() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.issued++
	tok := "t-" + strconv.Itoa(ts.issued) + "-g3jdk29fhw"
	if ts.valid == nil {
		ts.valid = map[string]bool{}
	}
	ts.valid[tok] = true
	return tok
}

func (ts *tokenServer) ok(tok string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.valid[tok]
}

func (ts *tokenServer) rotate() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.valid = nil
}

func (ts *tokenServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued
}

// Each auth style authenticates every page, and fetched tokens are cached
// across reads until they expire.
func TestAuthStyles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	secretFile(t, dir, "hr.token", "static-token-8c1f")
	secretFile(t, dir, "hr.password", "pa55-w0rd")
	secretFile(t, dir, "feishu", "feishu-app-secret-77")
	secretFile(t, dir, "oauth", "oauth-client-secret-42")

	cases := []struct {
		name string
		// auth is the auth: block; %[1]s is the server URL.
		auth string
		// check authorizes a page request given the token server.
		check func(ts *tokenServer, r *http.Request) bool
		// tokenRequests after two reads; -1: no token endpoint.
		tokenRequests int
	}{
		{
			name: "bearer token from $CREDENTIALS_DIRECTORY",
			auth: `{type: bearer, token_file: $CREDENTIALS_DIRECTORY/hr.token}`,
			check: func(_ *tokenServer, r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer static-token-8c1f"
			},
			tokenRequests: -1,
		},
		{
			name: "basic with a password file",
			auth: `{type: basic, username: orgsync, password_file: $CREDENTIALS_DIRECTORY/hr.password}`,
			check: func(_ *tokenServer, r *http.Request) bool {
				u, p, ok := r.BasicAuth()
				return ok && u == "orgsync" && p == "pa55-w0rd"
			},
			tokenRequests: -1,
		},
		{
			name: "an API key header",
			auth: `{type: header, header: X-API-Key, value: key-5f2a}`,
			check: func(_ *tokenServer, r *http.Request) bool {
				return r.Header.Get("X-API-Key") == "key-5f2a" && r.Header.Get("Authorization") == ""
			},
			tokenRequests: -1,
		},
		{
			name: "oauth2 client credentials",
			auth: `{type: oauth2, token_url: "%[1]s/oauth/token", client_id: orgsync, client_secret_file: $CREDENTIALS_DIRECTORY/oauth, scopes: [hr.read], params: {audience: hr-api}}`,
			check: func(ts *tokenServer, r *http.Request) bool {
				tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				return ok && ts.ok(tok)
			},
			tokenRequests: 1,
		},
		{
			name: "Feishu tenant_access_token exchange",
			auth: `
  type: token_request
  url: "%[1]s/open-apis/auth/v3/tenant_access_token/internal"
  body: {app_id: cli_a1b2c3, app_secret: {secret_file: $CREDENTIALS_DIRECTORY/feishu}}
  token_path: tenant_access_token
  expires_in_path: expire`,
			check: func(ts *tokenServer, r *http.Request) bool {
				tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				return ok && ts.ok(tok)
			},
			tokenRequests: 1,
		},
		{
			name: "Beisen-style app_key/app_secret exchange, token in its own header without prefix",
			auth: `
  type: token_request
  url: "%[1]s/token"
  body: {grant_type: client_credentials, app_key: BEISEN-KEY, app_secret: {secret: beisen-secret-31}}
  token_path: data.access_token
  expires_in_path: data.expires_in
  header: X-Access-Token
  prefix: ""`,
			check: func(ts *tokenServer, r *http.Request) bool {
				return ts.ok(r.Header.Get("X-Access-Token"))
			},
			tokenRequests: 1,
		},
		{
			name: "a token in the query without a lifetime is fetched once per read",
			auth: `
  type: token_request
  url: "%[1]s/gettoken"
  body: {appkey: dk-app, appsecret: {secret: dk-secret-9}}
  token_path: access_token
  query_param: access_token`,
			check: func(ts *tokenServer, r *http.Request) bool {
				return ts.ok(r.URL.Query().Get("access_token"))
			},
			tokenRequests: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := &tokenServer{}
			h := newHR(t, employees(30), 10)
			h.authorized = func(r *http.Request) bool { return tc.check(ts, r) }
			h.pageStyle()
			h.mux.HandleFunc("/oauth/token", func(w http.ResponseWriter, r *http.Request) {
				id, secret, _ := r.BasicAuth()
				if r.FormValue("grant_type") != "client_credentials" || id != "orgsync" || secret != "oauth-client-secret-42" ||
					r.FormValue("scope") != "hr.read" || r.FormValue("audience") != "hr-api" {
					w.WriteHeader(http.StatusUnauthorized)
					writeJSON(w, map[string]any{"error": "invalid_client"})
					return
				}
				writeJSON(w, map[string]any{"access_token": ts.issue(), "token_type": "Bearer", "expires_in": 3600})
			})
			h.mux.HandleFunc("/open-apis/auth/v3/tenant_access_token/internal", func(w http.ResponseWriter, r *http.Request) {
				var b map[string]string
				_ = json.NewDecoder(r.Body).Decode(&b)
				if b["app_id"] != "cli_a1b2c3" || b["app_secret"] != "feishu-app-secret-77" {
					writeJSON(w, map[string]any{"code": 10014, "msg": "app secret invalid"})
					return
				}
				writeJSON(w, map[string]any{"code": 0, "msg": "ok", "tenant_access_token": ts.issue(), "expire": 7200})
			})
			h.mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
				var b map[string]string
				_ = json.NewDecoder(r.Body).Decode(&b)
				if b["app_key"] != "BEISEN-KEY" || b["app_secret"] != "beisen-secret-31" || b["grant_type"] != "client_credentials" {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				writeJSON(w, map[string]any{"code": "200", "data": map[string]any{"access_token": ts.issue(), "expires_in": 7200}})
			})
			h.mux.HandleFunc("/gettoken", func(w http.ResponseWriter, r *http.Request) {
				var b map[string]string
				_ = json.NewDecoder(r.Body).Decode(&b)
				if b["appsecret"] != "dk-secret-9" {
					writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
					return
				}
				writeJSON(w, map[string]any{"errcode": 0, "access_token": ts.issue()})
			})
			auth := strings.ReplaceAll(tc.auth, "%[1]s", h.srv.URL)
			src := openYAML(t, nil, "url: %s/api/v1/employees\npagination: {type: page, size_param: page_size, size: 10, has_more_path: data.has_more}\nrecords_path: data.items\nauth: "+strings.ReplaceAll(auth, "%", "%%")+"\n", h.srv.URL)
			for range 2 {
				if b := list(t, src); len(b.Records) != 30 {
					t.Fatalf("%d records", len(b.Records))
				}
			}
			if tc.tokenRequests >= 0 && ts.count() != tc.tokenRequests {
				t.Fatalf("%d token requests for two reads, want %d", ts.count(), tc.tokenRequests)
			}
			if tc.tokenRequests > 0 {
				// A revoked token: one 401, a fresh token, the read goes on.
				ts.rotate()
				if b := list(t, src); len(b.Records) != 30 {
					t.Fatalf("%d records after the token was revoked", len(b.Records))
				}
			}
		})
	}
}

// Refused credentials fail the read at once, naming the token endpoint or
// the page, and a refused static token is not retried.
func TestRefusedCredentialsFailTheRead(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, auth string
		want       []string
	}{
		{"a wrong bearer token", `{type: bearer, token: wrong-token-1}`,
			[]string{"page 1 (", "HTTP 401 Unauthorized", "invalid access token"}},
		{"a wrong oauth2 client secret", `{type: oauth2, token_url: "%[1]s/oauth/token", client_id: orgsync, client_secret: wrong-secret-2}`,
			[]string{"page 1 (", "auth: token_url %[1]s/oauth/token answered HTTP 401: error=\"invalid_client\""}},
		{"a wrong Feishu app secret", `{type: token_request, url: "%[1]s/open-apis/auth/v3/tenant_access_token/internal", body: {app_id: cli_a1b2c3, app_secret: wrong-secret-3}, token_path: tenant_access_token}`,
			[]string{"page 1 (", "no token at tenant_access_token (answer keys: code, msg): code=\"10014\" msg=\"app secret invalid\""}},
		{"a missing secret file", `{type: bearer, token_file: ` + filepath.Join(dir, "gone") + `}`,
			[]string{"auth.token_file: read secret file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHR(t, employees(5), 10)
			h.authorized = func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer right" }
			h.pageStyle()
			h.mux.HandleFunc("/oauth/token", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
				writeJSON(w, map[string]any{"error": "invalid_client"})
			})
			h.mux.HandleFunc("/open-apis/auth/v3/tenant_access_token/internal", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"code": 10014, "msg": "app secret invalid"})
			})
			c, err := decodeConfig(t, strings.ReplaceAll("url: "+h.srv.URL+"/api/v1/employees\nrecords_path: data.items\nauth: "+tc.auth+"\n", "%[1]s", h.srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			src, err := c.Open("hr", nil)
			if err == nil {
				_, err = src.List(context.Background())
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "%[1]s", h.srv.URL)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.HasPrefix(tc.name, "a wrong") && !errors.Is(err, ErrRequest) && !errors.Is(err, ErrAnswer) {
				t.Errorf("no sentinel: %v", err)
			}
			if strings.Contains(tc.name, "bearer") && h.requests.Load() != 1 {
				t.Errorf("%d page requests, want 1 (no retry of a refused static token)", h.requests.Load())
			}
		})
	}
}

// A fetched token is renewed once its lifetime (less a tenth) has passed.
func TestAnExpiredTokenIsRenewed(t *testing.T) {
	ts := &tokenServer{}
	h := newHR(t, employees(5), 10)
	h.authorized = func(r *http.Request) bool { return ts.ok(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) }
	h.pageStyle()
	h.mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		writeJSON(w, map[string]any{"code": 0, "tenant_access_token": ts.issue(), "expire": 1})
	})
	src := openYAML(t, nil, "url: %[1]s/api/v1/employees\nrecords_path: data.items\nauth: {type: token_request, url: \"%[1]s/token\", token_path: tenant_access_token, expires_in_path: expire}\n", h.srv.URL)
	list(t, src)
	list(t, src)
	if ts.count() != 1 {
		t.Fatalf("%d token requests within the lifetime, want 1", ts.count())
	}
	time.Sleep(time.Second)
	list(t, src)
	if ts.count() != 2 {
		t.Fatalf("%d token requests after the lifetime, want 2", ts.count())
	}
}
