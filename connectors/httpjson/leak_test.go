package httpjson

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// No configured secret, and no token fetched with one, appears in an error
// or a log line, whatever the server echoes back: the Authorization header
// in an error body, the token in a next link's query, a token answer at
// the wrong path.
func TestSecretsNeverAppearInErrorsOrLogs(t *testing.T) {
	const (
		bearer       = "bearer-SECRET-a9f3k2"
		password     = "basic-SECRET-pw77"
		apiKey       = "apikey-SECRET-5d1c"
		clientSecret = "oauth-SECRET-cs42"
		appSecret    = "feishu-SECRET-as13"
		fetched      = "t-FETCHED-SECRET-q8w7e6" // what the token endpoints hand out
		queryKey     = "query-SECRET-k0"
		headerKey    = "header-SECRET-h1" // a key set under headers: rather than auth:
	)
	secrets := []string{bearer, password, apiKey, clientSecret, appSecret, fetched, queryKey, headerKey,
		base64.StdEncoding.EncodeToString([]byte("orgsync:" + password))}

	// echo answers every page with what it was sent: headers and URL.
	type echo func(w http.ResponseWriter, r *http.Request)
	echoes := map[string]echo{
		"a 401 quoting the Authorization header": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"msg":"bad credentials %s %s %s","url":"%s"}`, r.Header.Get("Authorization"), r.Header.Get("X-API-Key"), r.Header.Get("X-Tenant-Key"), r.URL)
		},
		"a 500 quoting the request as text": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "error processing %s token=%s auth=%s key=%s", r.URL, r.URL.Query().Get("access_token"), r.Header.Get("Authorization"), r.Header.Get("X-API-Key"))
		},
		"a next link carrying the token, then a failure": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("p") == "" {
				tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				writeJSON(w, map[string]any{"value": []any{employee(1)}, "@odata.nextLink": "/api?p=2&access_token=" + tok + "&key=" + r.Header.Get("X-API-Key")})
				return
			}
			w.WriteHeader(http.StatusBadGateway)
		},
		"an answer that is not JSON and quotes the token": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "<html>session %s expired</html>", r.Header.Get("Authorization"))
		},
	}
	auths := map[string]string{
		"bearer":                        `{type: bearer, token: ` + bearer + `}`,
		"basic":                         `{type: basic, username: orgsync, password: ` + password + `}`,
		"header":                        `{type: header, header: X-API-Key, value: ` + apiKey + `}`,
		"oauth2":                        `{type: oauth2, token_url: "URL/oauth/token", client_id: orgsync, client_secret: ` + clientSecret + `}`,
		"token_request":                 `{type: token_request, url: "URL/feishu/token", body: {app_id: cli_1, app_secret: {secret: ` + appSecret + `}}, token_path: tenant_access_token, expires_in_path: expire}`,
		"token_request at a wrong path": `{type: token_request, url: "URL/feishu/token", body: {app_id: cli_1, app_secret: {secret: ` + appSecret + `}}, token_path: data.token}`,
		"token_request refused":         `{type: token_request, url: "URL/feishu/refuse", body: {app_id: cli_1, app_secret: {secret: ` + appSecret + `}}, token_path: tenant_access_token}`,
		"oauth2 refused":                `{type: oauth2, token_url: "URL/oauth/refuse", client_id: orgsync, client_secret: ` + clientSecret + `}`,
	}
	for an, auth := range auths {
		for en, e := range echoes {
			t.Run(an+"/"+en, func(t *testing.T) {
				mux := http.NewServeMux()
				mux.HandleFunc("/api", e)
				mux.HandleFunc("/oauth/token", func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, map[string]any{"access_token": fetched, "token_type": "Bearer", "expires_in": 3600})
				})
				mux.HandleFunc("/feishu/token", func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, map[string]any{"code": 0, "msg": "ok", "tenant_access_token": fetched, "expire": 7200})
				})
				mux.HandleFunc("/oauth/refuse", func(w http.ResponseWriter, r *http.Request) {
					drain(r)
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprintf(w, `{"error":"invalid_client","error_description":"secret %s is wrong"}`, clientSecret)
				})
				mux.HandleFunc("/feishu/refuse", func(w http.ResponseWriter, r *http.Request) {
					drain(r)
					fmt.Fprintf(w, `{"code":10014,"msg":"app_secret %s invalid"}`, appSecret)
				})
				h := newHR(t, nil, 10)
				h.mux.Handle("/", mux)
				logs := newLogs()
				src := openYAML(t, logs.log, "url: %s/api?"+"api_key="+queryKey+"\npagination: {type: next_url, next_path: \"@odata.nextLink\"}\nrecords_path: value\nheaders: {X-Tenant-Key: "+headerKey+"}\nretry: {attempts: 2, min_wait: 1ms, max_wait: 2ms}\nauth: "+strings.ReplaceAll(auth, "URL", h.srv.URL)+"\n", h.srv.URL)
				_, err := src.List(context.Background())
				if err == nil {
					t.Fatal("no error")
				}
				out := err.Error() + "\n" + fmt.Sprintf("%v %+v %#v", err, err, err) + "\n" + logs.text()
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Fatalf("%s leaked:\n%s", s, out)
					}
				}
				if !regexp.MustCompile(`^page [12] \(http://127\.0\.0\.1:\d+/api\?[^ ]*\): `).MatchString(err.Error()) {
					t.Fatalf("the page is not named: %v", err)
				}
			})
		}
	}
}

// A source's config prints no secret either.
func TestConfigPrintsNoSecret(t *testing.T) {
	c, err := decodeConfig(t, `
url: https://hr.example.com/api
auth: {type: token_request, url: "https://hr.example.com/token", body: {app_secret: {secret: s3cr3t-xyz}}, token_path: token}
`)
	if err != nil {
		t.Fatal(err)
	}
	if out := fmt.Sprintf("%v %+v %#v", *c, *c, *c); strings.Contains(out, "s3cr3t-xyz") {
		t.Fatalf("leaked: %s", out)
	}
}
