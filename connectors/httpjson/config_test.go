package httpjson

import (
	"strings"
	"testing"
)

// Every bad config is refused with the field (and, for unknown keys, the
// line) named.
func TestBadConfigsNameTheField(t *testing.T) {
	cases := []struct {
		name, config string
		want         []string
	}{
		{"an unknown key, with its line", "url: https://hr/x\nrecords_paht: data.items\n",
			[]string{"line 2: config.records_paht: unknown key (known: url, method,"}},
		{"an unknown key inside auth, with its line", "url: https://hr/x\nauth:\n  type: bearer\n  token: t\n  tokne_file: /x\n",
			[]string{"line 5: config.auth.tokne_file: unknown key"}},
		{"an unknown key inside pagination", "url: https://hr/x\npagination: {type: cursor, param: c, next: d.c}\n",
			[]string{"line 2: config.pagination.next: unknown key"}},
		{"an unknown key in a secret reference", "url: https://hr/x\nauth:\n  type: token_request\n  url: https://hr/t\n  token_path: t\n  body:\n    app_secret: {secret_file: /x, fiel: y}\n",
			[]string{"line 7: fiel: unknown key in a secret reference (known: secret, secret_file)"}},
		{"no url", "records_path: x\n", []string{"url: required"}},
		{"an ftp url", "url: ftp://hr/x\n", []string{`url: "ftp://hr/x" must start with https:// or http://`}},
		{"a body without POST", "url: https://hr/x\nbody: {a: 1}\n", []string{"body: needs method: POST"}},
		{"a method that is neither GET nor POST", "url: https://hr/x\nmethod: PUT\n", []string{`method: "PUT" must be GET or POST`}},
		{"an unknown auth type", "url: https://hr/x\nauth: {type: kerberos}\n", []string{`auth.type: "kerberos" is not one of basic, bearer, header, none, oauth2, token_request`}},
		{"a field of another auth type", "url: https://hr/x\nauth: {type: bearer, token: t, username: u}\n", []string{"auth.username: does not apply to auth type bearer"}},
		{"bearer without a token", "url: https://hr/x\nauth: {type: bearer}\n", []string{"auth.token: one of token or token_file is required"}},
		{"both a secret and its file", "url: https://hr/x\nauth: {type: basic, username: u, password: p, password_file: /f}\n", []string{"auth.password: set only one of password and password_file"}},
		{"oauth2 without client_id or token_url", "url: https://hr/x\nauth: {type: oauth2, client_secret: s}\n", []string{"auth.token_url: required", "auth.client_id: required for oauth2"}},
		{"token_request without token_path", "url: https://hr/x\nauth: {type: token_request, url: https://hr/t}\n", []string{"auth.token_path: required"}},
		{"token_request with header and query_param", "url: https://hr/x\nauth: {type: token_request, url: https://hr/t, token_path: t, header: X, query_param: q}\n", []string{"auth.query_param: set only one of header and query_param"}},
		{"an unknown pagination type", "url: https://hr/x\npagination: {type: scroll}\n", []string{`pagination.type: "scroll" is not one of cursor, link_header, next_url, none, offset, page`}},
		{"a field of another pagination type", "url: https://hr/x\npagination: {type: next_url, next_path: n, param: p}\n", []string{"pagination.param: does not apply to pagination type next_url"}},
		{"a cursor without param or next_path", "url: https://hr/x\npagination: {type: cursor}\n", []string{"pagination.param: required for cursor", "pagination.next_path: required for cursor"}},
		{"a cursor in the body of a GET", "url: https://hr/x\npagination: {type: cursor, param: c, next_path: n, in: body}\n", []string{"pagination.in: body needs method: POST"}},
		{"page size without its parameter", "url: https://hr/x\npagination: {type: page, size: 100}\n", []string{"pagination.size_param: required with size"}},
		{"has_more_path and last_path", "url: https://hr/x\npagination: {type: cursor, param: c, next_path: n, has_more_path: m, last_path: l}\n", []string{"pagination.last_path: set only one of has_more_path and last_path"}},
		{"a path that does not parse", "url: https://hr/x\nrecords_path: data..items\n", []string{`records_path: path "data..items" has an empty key at offset 5`}},
		{"a bad rate", "url: https://hr/x\nrate: fast\n", []string{`rate: "fast" must be a positive number of requests per s, m or h`}},
		{"a negative min_records", "url: https://hr/x\nmin_records: -1\n", []string{"min_records: must not be negative"}},
		{"a client cert without its key", "url: https://hr/x\ncert_file: /c.pem\n", []string{"cert_file: cert_file and key_file go together"}},
		{"success_value without success_path", "url: https://hr/x\nsuccess_value: \"0\"\n", []string{"success_path: required with success_value"}},
		{"a bad timeout", "url: https://hr/x\ntimeout: soon\n", []string{"config: "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeConfig(t, tc.config)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestAGoodConfigDecodes(t *testing.T) {
	c, err := decodeConfig(t, `
url: https://open.feishu.cn/open-apis/corehr/v1/employees
method: POST
body: {status: [active, leaving]}
headers: {X-Tenant: acme}
query: {page_size: "100"}
auth:
  type: token_request
  url: https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal
  body: {app_id: cli_a1b2, app_secret: {secret_file: $CREDENTIALS_DIRECTORY/feishu}}
  token_path: tenant_access_token
  expires_in_path: expire
pagination: {type: cursor, param: page_token, next_path: data.page_token, has_more_path: data.has_more}
records_path: data.items
success_path: code
message_path: msg
max_pages: 500
timeout: 10s
rate: 10/s
retry: {attempts: 4, max_time: 1m}
min_records: 1000
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Body["app_secret"].SecretFile != "$CREDENTIALS_DIRECTORY/feishu" || c.Auth.Body["app_id"].Literal != "cli_a1b2" || c.Timeout.Seconds() != 10 {
		t.Fatalf("%+v", c)
	}
}

func TestOpenRefusesAMissingCAFile(t *testing.T) {
	c, err := decodeConfig(t, "url: https://hr/x\nca_file: /nonexistent/ca.pem\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open("hr", nil); err == nil || !strings.Contains(err.Error(), "ca_file: ") {
		t.Fatalf("got %v", err)
	}
}
