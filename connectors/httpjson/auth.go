package httpjson

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/orgsync/orgsync/internal/config"
)

// auth authenticates page requests. Secrets from files are read at the
// start of every List, so a rotated secret is picked up without a restart;
// fetched tokens are cached until shortly before they expire (or, when the
// answer gives no lifetime, for one List), and dropped after a 401.
type auth struct {
	cfg Auth
	red *redactor
	// client sends token requests (TLS, rate and retries as for pages).
	client *http.Client

	mu    sync.Mutex
	gen   int // List generation: a token without expiry is kept for one
	value string
	// fetched token (oauth2, token_request)
	token    string
	tokenGen int
	expiry   time.Time
	otok     *oauth2.Token
	tokenURL string // redacted, for messages
}

func newAuth(cfg Auth, red *redactor, client *http.Client) *auth {
	a := &auth{cfg: cfg, red: red, client: client}
	switch cfg.Type {
	case "oauth2":
		a.tokenURL = red.rawURL(cfg.TokenURL)
	case "token_request":
		a.tokenURL = red.rawURL(cfg.URL)
	}
	// Inline secrets are known now; those in files when they are read.
	red.add(cfg.Token.Reveal(), cfg.Password.Reveal(), cfg.Value.Reveal(), cfg.ClientSecret.Reveal())
	for _, v := range cfg.Body {
		red.add(v.Secret.Reveal())
	}
	return a
}

func (a *auth) refreshable() bool { return a.cfg.Type == "oauth2" || a.cfg.Type == "token_request" }

func readRef(field string, v config.Secret, file string) (config.Secret, error) {
	s, err := config.ReadSecretRef(v, config.ResolveCredentialPath(file))
	if err != nil {
		return "", fmt.Errorf("auth.%s_file: %w", field, err)
	}
	return s, nil
}

// secrets reads the secrets the auth type needs, registering them with the
// redactor.
func (a *auth) secrets() (main config.Secret, body map[string]any, err error) {
	c := a.cfg
	switch c.Type {
	case "bearer":
		main, err = readRef("token", c.Token, c.TokenFile)
	case "basic":
		main, err = readRef("password", c.Password, c.PasswordFile)
	case "header":
		main, err = readRef("value", c.Value, c.ValueFile)
	case "oauth2":
		main, err = readRef("client_secret", c.ClientSecret, c.ClientSecretFile)
	case "token_request":
		body = make(map[string]any, len(c.Body))
		for k, v := range c.Body {
			if !v.IsSecret {
				body[k] = v.Literal
				continue
			}
			s, e := config.ReadSecretRef(v.Secret, config.ResolveCredentialPath(v.SecretFile))
			if e != nil {
				return "", nil, fmt.Errorf("auth.body.%s.secret_file: %w", k, e)
			}
			a.red.add(s.Reveal())
			body[k] = s.Reveal()
		}
	}
	if err != nil {
		return "", nil, err
	}
	a.red.add(main.Reveal())
	if c.Type == "basic" {
		a.red.add(base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + main.Reveal())))
	}
	return main, body, nil
}

// check is Open's test that every secret file can be read.
func (a *auth) check() error {
	_, _, err := a.secrets()
	return err
}

// begin starts a List: secrets are read afresh.
func (a *auth) begin() error {
	main, _, err := a.secrets()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.gen++
	a.value = main.Reveal()
	a.mu.Unlock()
	return nil
}

// invalidate drops a fetched token after the server refused it.
func (a *auth) invalidate() {
	a.mu.Lock()
	a.token, a.otok = "", nil
	a.mu.Unlock()
}

// apply authenticates req, fetching a token if needed.
func (a *auth) apply(ctx context.Context, req *http.Request) error {
	c := a.cfg
	switch c.Type {
	case "", "none":
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+a.value)
	case "basic":
		req.SetBasicAuth(c.Username, a.value)
	case "header":
		req.Header.Set(c.Header, a.value)
	case "oauth2":
		tok, err := a.oauth2Token(ctx)
		if err != nil {
			return err
		}
		tok.SetAuthHeader(req)
	case "token_request":
		tok, err := a.requestToken(ctx)
		if err != nil {
			return err
		}
		if c.QueryParam != "" {
			q := req.URL.Query()
			q.Set(c.QueryParam, tok)
			req.URL.RawQuery = q.Encode()
			return nil
		}
		prefix := "Bearer "
		if c.Prefix != nil {
			prefix = *c.Prefix
		}
		req.Header.Set(cmpOr(c.Header, "Authorization"), prefix+tok)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (a *auth) oauth2Token(ctx context.Context) (*oauth2.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cc := clientcredentials.Config{
		ClientID: a.cfg.ClientID, ClientSecret: a.value, TokenURL: a.cfg.TokenURL, Scopes: a.cfg.Scopes,
	}
	if len(a.cfg.Params) > 0 {
		cc.EndpointParams = map[string][]string{}
		for k, v := range a.cfg.Params {
			cc.EndpointParams.Set(k, v)
		}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.client)
	tok, err := oauth2.ReuseTokenSourceWithExpiry(a.otok, cc.TokenSource(ctx), time.Minute).Token()
	if err != nil {
		a.otok = nil
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			// Quoted through its error fields only, like a token_request answer.
			ans, _ := decodeJSON(re.Body)
			return nil, a.red.error(fmt.Errorf("%w: auth: token_url %s answered HTTP %d%s", ErrRequest, a.tokenURL, re.Response.StatusCode, errorFields(ans)))
		}
		return nil, a.red.error(fmt.Errorf("%w: auth: token_url %s: %w", ErrRequest, a.tokenURL, unwrapURLError(err)))
	}
	a.red.add(tok.AccessToken, tok.RefreshToken)
	a.otok = tok
	return tok, nil
}

func (a *auth) requestToken(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if a.token != "" {
		if a.expiry.IsZero() && a.tokenGen == a.gen || !a.expiry.IsZero() && now.Before(a.expiry) {
			return a.token, nil
		}
	}
	_, body, err := a.secrets()
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("auth.body: %w", err)
	}
	fail := func(kind error, format string, args ...any) (string, error) {
		return "", a.red.error(fmt.Errorf("%w: auth: token request to %s: %s", kind, a.tokenURL, fmt.Sprintf(format, args...)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.URL, bytes.NewReader(raw))
	if err != nil {
		return fail(ErrRequest, "%v", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return fail(ErrRequest, "%v", unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes))
	if err != nil {
		return fail(ErrRequest, "reading the answer: %v", err)
	}
	var ans any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	jsonErr := dec.Decode(&ans)
	if resp.StatusCode/100 != 2 {
		// The answer is quoted only through its error fields: a token
		// answer must never be echoed.
		return fail(ErrRequest, "HTTP %s%s", resp.Status, errorFields(ans))
	}
	if jsonErr != nil {
		return fail(ErrAnswer, "the answer is not JSON (%s)", contentType(resp))
	}
	tp, _ := parsePath(a.cfg.TokenPath)
	v, _ := tp.lookup(ans)
	tok, _ := v.(string)
	if tok == "" {
		return fail(ErrAnswer, "no token at %s (answer keys: %s)%s", a.cfg.TokenPath, keysOf(ans), errorFields(ans))
	}
	a.red.add(tok)
	a.token, a.tokenGen, a.expiry = tok, a.gen, time.Time{}
	if a.cfg.ExpiresInPath != "" {
		ep, _ := parsePath(a.cfg.ExpiresInPath)
		ev, _ := ep.lookup(ans)
		secs, err := strconv.ParseFloat(scalarText(ev), 64)
		if err != nil || secs <= 0 {
			return fail(ErrAnswer, "no lifetime in seconds at %s", a.cfg.ExpiresInPath)
		}
		life := time.Duration(secs * float64(time.Second))
		// Renew early: a tenth of the lifetime, at most five minutes.
		a.expiry = now.Add(life - min(life/10, 5*time.Minute))
	}
	return tok, nil
}

// errorFields quotes the usual error fields of an answer (Feishu
// code/msg, DingTalk errcode/errmsg, OAuth error/error_description),
// redacted; never the rest of it.
func errorFields(ans any) string {
	m, ok := ans.(map[string]any)
	if !ok {
		return ""
	}
	var parts []string
	for _, k := range []string{"code", "msg", "message", "errcode", "errmsg", "error", "error_description"} {
		if v, ok := m[k]; ok {
			if t := scalarText(v); t != "" {
				if len(t) > excerptLen {
					t = t[:excerptLen] + "…"
				}
				parts = append(parts, k+"="+strconv.Quote(t))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, " ")
}

func keysOf(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return "none, not an object"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// scalarText renders a decoded JSON scalar as text ("" for others).
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func contentType(resp *http.Response) string {
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		return ct
	}
	return "no content type"
}
