package httpjson

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/internal/config"
)

// Defaults.
const (
	DefaultMaxPages     = 10000
	DefaultTimeout      = 30 * time.Second
	DefaultAttempts     = 5
	DefaultRetryMaxTime = 2 * time.Minute
	DefaultMinWait      = time.Second
	DefaultMaxWait      = 30 * time.Second
	DefaultPageSize     = 100
	// MaxAnswerBytes bounds one answer (a page or a token answer): a larger
	// one fails the read rather than exhaust memory.
	MaxAnswerBytes = 256 << 20
)

// Config is the `config:` block of a `type: http` source. See the package
// documentation for a reference with examples.
type Config struct {
	// URL of the first page: https://host/path, with or without a query.
	URL string `yaml:"url"`
	// Method is GET (default) or POST; a POST sends Body as JSON.
	Method string `yaml:"method"`
	// Body is the JSON object a POST sends (search filters, page size).
	Body map[string]any `yaml:"body"`
	// Headers are sent with every page request (not with token requests).
	Headers map[string]string `yaml:"headers"`
	// Query parameters added to the first page's URL (next_url and
	// link_header pagination follow the server's links as they are).
	Query map[string]string `yaml:"query"`

	Auth       Auth       `yaml:"auth"`
	Pagination Pagination `yaml:"pagination"`

	// RecordsPath is where the page's array of records is ("data.items");
	// empty: the answer itself is the array. An answer without it fails
	// the read; an explicit null is an empty page.
	RecordsPath string `yaml:"records_path"`
	// TotalPath is where the answer says how many records there are in
	// all; when set, a read whose count differs fails.
	TotalPath string `yaml:"total_path"`
	// SuccessPath names a status field of every answer (Feishu "code",
	// DingTalk "errcode"); an answer whose value there is not
	// SuccessValue (default "0") fails the read, quoting MessagePath.
	SuccessPath  string `yaml:"success_path"`
	SuccessValue string `yaml:"success_value"`
	MessagePath  string `yaml:"message_path"`

	// MaxPages bounds the read (default 10000); a read that would need
	// more pages fails.
	MaxPages int `yaml:"max_pages"`
	// Timeout bounds each request, the answer's body included (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// Rate caps requests (pages, retries and token requests): "10/s",
	// "600/m", "1000/h". Empty: no cap.
	Rate  string `yaml:"rate"`
	Retry Retry  `yaml:"retry"`
	// MinRecords: a read with fewer records fails.
	MinRecords int `yaml:"min_records"`

	// CAFile is a PEM bundle of the CAs that may sign the server's
	// certificate; it replaces the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate (mutual TLS).
	CertFile      string `yaml:"cert_file"`
	KeyFile       string `yaml:"key_file"`
	TLSServerName string `yaml:"tls_server_name"`
	// InsecureSkipVerify turns off certificate verification, for tests
	// only: it is logged as a warning every time the source is opened.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Auth says how requests authenticate. Type selects which of the other
// fields apply; a field of another type is an error.
type Auth struct {
	// Type is none (default), bearer, basic, header, oauth2 or token_request.
	Type string `yaml:"type"`

	// bearer: Authorization: Bearer <token>.
	Token     config.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`

	// basic: HTTP basic authentication.
	Username     string        `yaml:"username"`
	Password     config.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`

	// header: a header of its own holding an API key. For token_request,
	// the header the fetched token goes in (default Authorization).
	Header    string        `yaml:"header"`
	Value     config.Secret `yaml:"value"`
	ValueFile string        `yaml:"value_file"`

	// oauth2: client credentials grant (RFC 6749 §4.4).
	TokenURL         string            `yaml:"token_url"`
	ClientID         string            `yaml:"client_id"`
	ClientSecret     config.Secret     `yaml:"client_secret"`
	ClientSecretFile string            `yaml:"client_secret_file"`
	Scopes           []string          `yaml:"scopes"`
	Params           map[string]string `yaml:"params"` // extra token request parameters (audience, resource)

	// token_request: POST Body as JSON to URL, read the token at
	// TokenPath and its lifetime in seconds at ExpiresInPath; send it in
	// Header with Prefix (default "Bearer "), or as the query parameter
	// QueryParam.
	URL           string           `yaml:"url"`
	Body          map[string]Value `yaml:"body"`
	TokenPath     string           `yaml:"token_path"`
	ExpiresInPath string           `yaml:"expires_in_path"`
	Prefix        *string          `yaml:"prefix"`
	QueryParam    string           `yaml:"query_param"`
}

// Value is a token_request body value: any YAML value as it is, or a
// secret written as {secret: …} or {secret_file: /path} (which may start
// with $CREDENTIALS_DIRECTORY/).
type Value struct {
	Literal    any
	Secret     config.Secret
	SecretFile string
	IsSecret   bool
}

// UnmarshalYAML decodes a literal or a secret reference.
func (v *Value) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		isRef := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k == "secret" || k == "secret_file" {
				isRef = true
			}
		}
		if isRef {
			v.IsSecret = true
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				switch k.Value {
				case "secret":
					v.Secret = config.Secret(val.Value)
				case "secret_file":
					v.SecretFile = val.Value
				default:
					return fmt.Errorf("line %d: %s: unknown key in a secret reference (known: secret, secret_file)", k.Line, k.Value)
				}
			}
			if !v.Secret.Empty() && v.SecretFile != "" {
				return fmt.Errorf("line %d: set only one of secret and secret_file", n.Line)
			}
			return nil
		}
	}
	return n.Decode(&v.Literal)
}

// Pagination says how pages follow each other.
type Pagination struct {
	// Type is none (default: one request), page, offset, cursor, next_url
	// or link_header.
	Type string `yaml:"type"`
	// Param is the request parameter that says which page: the page
	// number (page; default "page"), the offset (offset; default
	// "offset") or the cursor (cursor; required).
	Param string `yaml:"param"`
	// In is where Param (and SizeParam) go: query (default) or body (POST).
	In string `yaml:"in"`
	// SizeParam and Size ask for a page size: page_size/size (page;
	// optional) or limit (offset; default "limit", 100).
	SizeParam string `yaml:"size_param"`
	Size      int    `yaml:"size"`
	// Start is the first page number (page; default 1) or offset
	// (offset; default 0).
	Start *int `yaml:"start"`
	// NextPath is where the answer holds the next cursor (cursor) or the
	// next page's URL (next_url: "@odata.nextLink", "d.__next").
	NextPath string `yaml:"next_path"`
	// HasMorePath is where the answer says whether more pages follow
	// (page, offset, cursor; optional).
	HasMorePath string `yaml:"has_more_path"`
	// LastPath is where the answer says this is the last page (a scroll
	// API's isLastData): has_more_path's opposite; set one of them.
	LastPath string `yaml:"last_path"`
}

// Retry bounds retries of one request: 429 (honouring Retry-After), 5xx
// and network errors are retried, anything else fails at once.
type Retry struct {
	// Attempts per request, the first included (default 5; 1: no retry).
	Attempts int `yaml:"attempts"`
	// MaxTime bounds one page's attempts and waits together (default 2m).
	MaxTime time.Duration `yaml:"max_time"`
	// MinWait and MaxWait bound the exponential backoff (default 1s, 30s).
	// A Retry-After longer than MaxWait is honoured within MaxTime.
	MinWait time.Duration `yaml:"min_wait"`
	MaxWait time.Duration `yaml:"max_wait"`
}

var _ connectors.Config = (*Config)(nil)

// Sentinel errors every read error wraps one of.
var (
	// ErrRequest: a page or token request failed (after retries): an HTTP
	// error status, a network error, a timeout.
	ErrRequest = errors.New("request failed")
	// ErrAnswer: an answer is not usable: not JSON, no records at
	// records_path, a failed success_path check, no token.
	ErrAnswer = errors.New("unusable answer")
	// ErrIncomplete: the pages read do not add up to everything: a
	// repeated page or cursor, a total that disagrees, max_pages reached,
	// fewer than min_records.
	ErrIncomplete = errors.New("read is incomplete")
)

// per-type fields of Auth and Pagination (yaml names), beyond type.
var (
	authFields = map[string][]string{
		"none":          {},
		"bearer":        {"token", "token_file"},
		"basic":         {"username", "password", "password_file"},
		"header":        {"header", "value", "value_file"},
		"oauth2":        {"token_url", "client_id", "client_secret", "client_secret_file", "scopes", "params"},
		"token_request": {"url", "body", "token_path", "expires_in_path", "header", "prefix", "query_param"},
	}
	paginationFields = map[string][]string{
		"none":        {},
		"page":        {"param", "in", "size_param", "size", "start", "has_more_path", "last_path"},
		"offset":      {"param", "in", "size_param", "size", "start", "has_more_path", "last_path"},
		"cursor":      {"param", "in", "next_path", "has_more_path", "last_path"},
		"next_url":    {"next_path"},
		"link_header": {},
	}
)

// foreignFields lists the yaml names of v's non-zero fields that are not
// in allowed (type excluded).
func foreignFields(v any, allowed []string) []string {
	ok := map[string]bool{"type": true}
	for _, a := range allowed {
		ok[a] = true
	}
	rv := reflect.ValueOf(v)
	var out []string
	for i := 0; i < rv.NumField(); i++ {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("yaml"), ",")
		if !ok[name] && !rv.Field(i).IsZero() {
			out = append(out, name)
		}
	}
	return out
}

func typeNames(m map[string][]string) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Validate reports every problem of the configuration, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	checkURL := func(field, raw string) {
		u, err := url.Parse(raw)
		switch {
		case raw == "":
			bad(field, "required (https://host/path)")
		case err != nil:
			bad(field, "%q does not parse", raw)
		case u.Scheme != "http" && u.Scheme != "https":
			bad(field, "%q must start with https:// or http://", raw)
		case u.Host == "":
			bad(field, "%q has no host", raw)
		}
	}
	checkURL("url", c.URL)
	switch strings.ToUpper(c.Method) {
	case "", "GET":
		if c.Body != nil {
			bad("body", "needs method: POST")
		}
	case "POST":
	default:
		bad("method", "%q must be GET or POST", c.Method)
	}
	checkPath := func(field, p string) {
		if _, err := parsePath(p); err != nil {
			bad(field, "%v", err)
		}
	}
	checkPath("records_path", c.RecordsPath)
	checkPath("total_path", c.TotalPath)
	checkPath("success_path", c.SuccessPath)
	checkPath("message_path", c.MessagePath)
	if c.SuccessPath == "" && (c.SuccessValue != "" || c.MessagePath != "") {
		bad("success_path", "required with success_value and message_path")
	}
	if c.MaxPages < 0 {
		bad("max_pages", "must not be negative")
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	if _, err := parseRate(c.Rate); err != nil {
		bad("rate", "%v", err)
	}
	if c.MinRecords < 0 {
		bad("min_records", "must not be negative")
	}
	r := c.Retry
	if r.Attempts < 0 || r.MaxTime < 0 || r.MinWait < 0 || r.MaxWait < 0 {
		bad("retry", "attempts, max_time, min_wait and max_wait must not be negative")
	}
	if r.MinWait > 0 && r.MaxWait > 0 && r.MinWait > r.MaxWait {
		bad("retry.min_wait", "is longer than retry.max_wait")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		bad("cert_file", "cert_file and key_file go together")
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			bad("headers", "%q is not a header name", k)
		}
	}
	errs = append(errs, c.Auth.validate(checkURL, checkPath)...)
	errs = append(errs, c.Pagination.validate(strings.ToUpper(c.Method) == "POST", checkPath)...)
	return errors.Join(errs...)
}

func secretPair(bad func(string, string, ...any), field string, v config.Secret, file string, required bool) {
	switch {
	case !v.Empty() && file != "":
		bad("auth."+field, "set only one of %s and %s_file", field, field)
	case required && v.Empty() && file == "":
		bad("auth."+field, "one of %s or %s_file is required", field, field)
	}
}

func (a *Auth) validate(checkURL func(string, string), checkPath func(string, string)) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	typ := a.Type
	if typ == "" {
		typ = "none"
	}
	allowed, ok := authFields[typ]
	if !ok {
		bad("auth.type", "%q is not one of %s", a.Type, typeNames(authFields))
		return errs
	}
	for _, f := range foreignFields(*a, allowed) {
		bad("auth."+f, "does not apply to auth type %s", typ)
	}
	switch typ {
	case "bearer":
		secretPair(bad, "token", a.Token, a.TokenFile, true)
	case "basic":
		if a.Username == "" {
			bad("auth.username", "required for basic")
		}
		secretPair(bad, "password", a.Password, a.PasswordFile, true)
	case "header":
		if a.Header == "" || strings.ContainsAny(a.Header, " :\r\n") {
			bad("auth.header", "the header's name is required (X-API-Key)")
		}
		secretPair(bad, "value", a.Value, a.ValueFile, true)
	case "oauth2":
		checkURL("auth.token_url", a.TokenURL)
		if a.ClientID == "" {
			bad("auth.client_id", "required for oauth2")
		}
		secretPair(bad, "client_secret", a.ClientSecret, a.ClientSecretFile, true)
	case "token_request":
		checkURL("auth.url", a.URL)
		if a.TokenPath == "" {
			bad("auth.token_path", "required: where the answer holds the token (tenant_access_token, data.access_token)")
		}
		checkPath("auth.token_path", a.TokenPath)
		checkPath("auth.expires_in_path", a.ExpiresInPath)
		if a.Header != "" && a.QueryParam != "" {
			bad("auth.query_param", "set only one of header and query_param")
		}
		if a.Prefix != nil && a.QueryParam != "" {
			bad("auth.prefix", "does not apply with query_param")
		}
		for k, v := range a.Body {
			if v.IsSecret && v.Secret.Empty() && v.SecretFile == "" {
				bad("auth.body."+k, "a secret reference needs secret or secret_file")
			}
		}
	}
	return errs
}

func (p *Pagination) validate(post bool, checkPath func(string, string)) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	typ := p.Type
	if typ == "" {
		typ = "none"
	}
	allowed, ok := paginationFields[typ]
	if !ok {
		bad("pagination.type", "%q is not one of %s", p.Type, typeNames(paginationFields))
		return errs
	}
	for _, f := range foreignFields(*p, allowed) {
		bad("pagination."+f, "does not apply to pagination type %s", typ)
	}
	switch p.In {
	case "", "query":
	case "body":
		if !post {
			bad("pagination.in", "body needs method: POST")
		}
	default:
		bad("pagination.in", "%q must be query or body", p.In)
	}
	if p.Size < 0 {
		bad("pagination.size", "must not be negative")
	}
	if p.Start != nil && *p.Start < 0 {
		bad("pagination.start", "must not be negative")
	}
	if p.Type == "page" && p.Size > 0 && p.SizeParam == "" {
		bad("pagination.size_param", "required with size (the parameter that asks for it)")
	}
	switch typ {
	case "cursor":
		if p.Param == "" {
			bad("pagination.param", "required for cursor: the request parameter that carries the cursor")
		}
		if p.NextPath == "" {
			bad("pagination.next_path", "required for cursor: where the answer holds the next cursor")
		}
	case "next_url":
		if p.NextPath == "" {
			bad("pagination.next_path", `required for next_url: where the answer holds the next page's URL ("@odata.nextLink")`)
		}
	}
	checkPath("pagination.next_path", p.NextPath)
	checkPath("pagination.has_more_path", p.HasMorePath)
	checkPath("pagination.last_path", p.LastPath)
	if p.HasMorePath != "" && p.LastPath != "" {
		bad("pagination.last_path", "set only one of has_more_path and last_path")
	}
	return errs
}

// parseRate parses "N/s", "N/m" (or /min) and "N/h"; "" is no limit.
func parseRate(s string) (rate.Limit, error) {
	if s == "" {
		return rate.Inf, nil
	}
	n, unit, ok := strings.Cut(strings.ReplaceAll(s, " ", ""), "/")
	v, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("%q must be a positive number of requests per s, m or h (10/s, 600/m)", s)
	}
	switch unit {
	case "s", "sec", "second":
		return rate.Limit(v), nil
	case "m", "min", "minute":
		return rate.Limit(v / 60), nil
	case "h", "hour":
		return rate.Limit(v / 3600), nil
	}
	return 0, fmt.Errorf("%q: unit must be s, m or h", s)
}

// Open checks what Validate cannot (secret files, the CA and client
// certificate) and returns the source. It sends nothing: List does.
func (c *Config) Open(name string, log *zap.Logger) (connectors.Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	s, err := newSource(name, *c, tc, log)
	if err != nil {
		return nil, err
	}
	if err := s.auth.check(); err != nil {
		return nil, err
	}
	if c.InsecureSkipVerify {
		log.Warn("insecure_skip_verify is set: the HR API's certificate is NOT verified, anyone on the network path can impersonate it and read the credentials and the people; use ca_file instead")
	}
	if strings.HasPrefix(strings.ToLower(c.URL), "http://") && c.Auth.Type != "" && c.Auth.Type != "none" {
		log.Warn("credentials are sent in clear text: use https://", zap.String("url", s.red.rawURL(c.URL)))
	}
	return s, nil
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in, warned about at Open
	if c.CAFile != "" {
		pem, err := os.ReadFile(config.ResolveCredentialPath(c.CAFile))
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(config.ResolveCredentialPath(c.CertFile), config.ResolveCredentialPath(c.KeyFile))
		if err != nil {
			// The error of LoadX509KeyPair names files, never key material.
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
