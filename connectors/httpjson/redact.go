package httpjson

import (
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// redactedText replaces what must not be shown.
const redactedText = "REDACTED"

// sensitiveParam reports whether a query parameter name looks like it
// carries a credential (access_token, token, key, api_key, secret,
// signature, sign, password, …).
func sensitiveParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"token", "secret", "password", "passwd", "pwd", "key", "sign", "auth", "credential", "session", "ticket"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactor removes secrets from text before it leaves the source: the
// configured secrets and every token fetched since, and anything in URLs
// or JSON excerpts that looks like a credential.
type redactor struct {
	mu      sync.RWMutex
	secrets map[string]bool
	r       *strings.Replacer
	// keep names query parameters that are never credentials even if
	// their names look like one (the pagination parameter, e.g. page_token).
	keep map[string]bool
}

func newRedactor(keep ...string) *redactor {
	r := &redactor{secrets: map[string]bool{}, keep: map[string]bool{}}
	for _, k := range keep {
		if k != "" {
			r.keep[k] = true
		}
	}
	r.r = strings.NewReplacer()
	return r
}

// add registers secret values (and their URL-encoded forms).
func (r *redactor) add(vals ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range vals {
		if v == "" {
			continue
		}
		for _, f := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if !r.secrets[f] {
				r.secrets[f], changed = true, true
			}
		}
	}
	if !changed {
		return
	}
	list := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		list = append(list, s)
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, redactedText)
	}
	r.r = strings.NewReplacer(pairs...)
}

var (
	jsonSecretField = regexp.MustCompile(`(?i)("[^"]*(?:token|secret|password|passwd|key|sign|credential)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	querySecret     = regexp.MustCompile(`(?i)\b([a-z0-9_.-]*(?:token|secret|password|passwd|pwd|key|sign|credential)[a-z0-9_.-]*=)[^&\s"'<>()]+`)
	bearerText      = regexp.MustCompile(`(?i)\b(bearer)\s+[a-z0-9._~+/=-]{8,}`)
)

// text redacts the configured and fetched secrets, credential-looking
// JSON fields and query parameters in s.
func (r *redactor) text(s string) string {
	r.mu.RLock()
	s = r.r.Replace(s)
	r.mu.RUnlock()
	s = jsonSecretField.ReplaceAllString(s, `$1"`+redactedText+`"`)
	s = querySecret.ReplaceAllStringFunc(s, func(m string) string {
		name, _, _ := strings.Cut(m, "=")
		if r.keep[name] {
			return m
		}
		return name + "=" + redactedText
	})
	return bearerText.ReplaceAllString(s, "$1 "+redactedText)
}

// url renders u without user info and with credential-looking query
// parameters redacted, keeping the parameter order.
func (r *redactor) url(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		parts := strings.Split(c.RawQuery, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			name, err := url.QueryUnescape(k)
			if err != nil {
				name = k
			}
			if sensitiveParam(name) && !r.keep[name] {
				parts[i] = k + "=" + redactedText
			}
		}
		c.RawQuery = strings.Join(parts, "&")
	}
	return r.text(c.String())
}

// rawURL is url for a URL string; one that does not parse is redacted as
// text.
func (r *redactor) rawURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return r.text(s)
	}
	return r.url(u)
}

// excerptLen is how much of an answer an error may quote.
const excerptLen = 160

// excerpt quotes the start of an answer body for an error message: short,
// on one line, and redacted.
func (r *redactor) excerpt(b []byte) string {
	s := string(b)
	if len(s) > excerptLen {
		cut := excerptLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
	return r.text(s)
}

// redactedError is an error whose message has been redacted. It matches
// (errors.Is) what the original matched, but does not unwrap to it: the
// original's message may hold a secret, and errors.As must not reach it.
type redactedError struct {
	msg  string
	orig error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }

// error returns err with its message redacted (nil for nil).
func (r *redactor) error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.text(err.Error()), orig: err}
}
