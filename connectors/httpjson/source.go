package httpjson

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/orgsync/orgsync/connectors"
)

// Source is a `type: http` source.
type Source struct {
	name string
	cfg  Config
	log  *zap.Logger
	red  *redactor
	auth *auth

	client *retryablehttp.Client
	base   *url.URL // url with the configured query
	method string
	paging Pagination
	paths  struct {
		records, total, next, hasMore, last, success, message path
	}
	maxPages int
	retry    Retry
	lim      *rate.Limiter // rate: shared by pages, retries and token requests
}

var _ connectors.Source = (*Source)(nil)

func newSource(name string, c Config, tc *tls.Config, log *zap.Logger) (*Source, error) {
	s := &Source{name: name, cfg: c, log: log, method: strings.ToUpper(cmpOr(c.Method, "GET"))}
	p := c.Pagination
	p.Type = cmpOr(p.Type, "none")
	p.In = cmpOr(p.In, "query")
	switch p.Type {
	case "page":
		p.Param = cmpOr(p.Param, "page")
		if p.Start == nil {
			one := 1
			p.Start = &one
		}
	case "offset":
		p.Param = cmpOr(p.Param, "offset")
		p.SizeParam = cmpOr(p.SizeParam, "limit")
		if p.Size == 0 {
			p.Size = DefaultPageSize
		}
		if p.Start == nil {
			zero := 0
			p.Start = &zero
		}
	}
	s.paging = p
	s.red = newRedactor(p.Param, p.SizeParam)
	// Configured values under credential-like names are secrets too.
	for k, v := range c.Query {
		if sensitiveParam(k) && k != p.Param {
			s.red.add(v)
		}
	}
	for k, v := range c.Headers {
		if sensitiveParam(k) {
			s.red.add(v)
		}
	}
	s.paths.records, _ = parsePath(c.RecordsPath)
	s.paths.total, _ = parsePath(c.TotalPath)
	s.paths.next, _ = parsePath(p.NextPath)
	s.paths.hasMore, _ = parsePath(p.HasMorePath)
	s.paths.last, _ = parsePath(p.LastPath)
	s.paths.success, _ = parsePath(c.SuccessPath)
	s.paths.message, _ = parsePath(c.MessagePath)

	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if len(c.Query) > 0 {
		q := u.Query()
		for k, v := range c.Query {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}
	s.base = u

	s.maxPages = c.MaxPages
	if s.maxPages == 0 {
		s.maxPages = DefaultMaxPages
	}
	r := c.Retry
	if r.Attempts == 0 {
		r.Attempts = DefaultAttempts
	}
	if r.MaxTime == 0 {
		r.MaxTime = DefaultRetryMaxTime
	}
	if r.MinWait == 0 {
		r.MinWait = DefaultMinWait
	}
	if r.MaxWait == 0 {
		r.MaxWait = max(DefaultMaxWait, r.MinWait)
	}
	s.retry = r

	limit, _ := parseRate(c.Rate)
	s.lim = rate.NewLimiter(limit, 1)
	tr := cleanhttp.DefaultPooledTransport()
	tr.TLSClientConfig = tc
	hc := &http.Client{
		Transport: tr,
		Timeout:   cmpOrDur(c.Timeout, DefaultTimeout),
		// net/http drops Authorization on a redirect to another host, but
		// not an API key header: such redirects are refused.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return fmt.Errorf("%w: stopped after 10 redirects", errRedirect)
			}
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return fmt.Errorf("%w to %s://%s: credentials are not sent to another host", errRedirect, req.URL.Scheme, req.URL.Host)
			}
			return nil
		},
	}
	s.client = &retryablehttp.Client{
		HTTPClient:     hc,
		Logger:         nil, // its messages carry URLs; retries are logged by checkRetry
		RetryWaitMin:   r.MinWait,
		RetryWaitMax:   r.MaxWait,
		RetryMax:       r.Attempts - 1,
		CheckRetry:     s.checkRetry,
		Backoff:        retryablehttp.DefaultBackoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: s.beforeAttempt,
	}
	s.auth = newAuth(c.Auth, s.red, s.client.StandardClient())
	return s, nil
}

func cmpOrDur(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

// attempt is what one page's request keeps across its retries; it rides in
// the request's context so that the retry policy can read it.
type attempt struct {
	page     int
	url      string // redacted
	start    time.Time
	tries    int
	body     []byte // the answer, read by the response handler
	giveUp   string // why retrying stopped before the attempts ran out
	lastWait time.Duration
}

type attemptKey struct{}

// beforeAttempt runs before every attempt of every request (pages,
// retries, token requests): it counts a page's attempts and waits for the
// rate limiter, outside the request's timeout. A context that ends during
// the wait fails the attempt that follows.
func (s *Source) beforeAttempt(_ retryablehttp.Logger, req *http.Request, i int) {
	if st, ok := req.Context().Value(attemptKey{}).(*attempt); ok {
		st.tries = i + 1
	}
	if s.lim.Limit() != rate.Inf {
		_ = s.lim.Wait(req.Context())
	}
}

// checkRetry is go-retryablehttp's policy (429, 5xx except 501, network
// errors; not TLS verification failures), bounded by retry.max_time per page.
func (s *Source) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if errors.Is(err, errTooLarge) || errors.Is(err, errRedirect) {
		return false, err
	}
	retry, _ := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	st, ok := ctx.Value(attemptKey{}).(*attempt)
	if !retry || !ok {
		return retry, nil
	}
	if st.tries >= s.retry.Attempts {
		return false, nil
	}
	wait := retryablehttp.DefaultBackoff(s.retry.MinWait, s.retry.MaxWait, st.tries-1, resp)
	if elapsed := time.Since(st.start); elapsed+wait > s.retry.MaxTime {
		st.giveUp = fmt.Sprintf("the next retry (in %s) would pass retry.max_time %s", wait.Round(time.Millisecond), s.retry.MaxTime)
		return false, nil
	}
	what := []zap.Field{zap.Int("page", st.page), zap.String("url", st.url), zap.Int("attempt", st.tries), zap.Duration("wait", wait)}
	if resp != nil {
		what = append(what, zap.Int("status", resp.StatusCode))
	} else {
		what = append(what, zap.String("error", s.red.text(unwrapURLError(err).Error())))
	}
	s.log.Warn("retrying page", what...)
	st.lastWait = wait
	return true, nil
}

var (
	errTooLarge = fmt.Errorf("answer larger than %d MiB", MaxAnswerBytes>>20)
	errRedirect = errors.New("redirect refused")
)

// readBody is the response handler of 2xx and 4xx answers: the body is read
// inside the retry loop, so that a connection that drops mid-body is
// retried like one that drops before the headers.
func readBody(st *attempt) retryablehttp.ResponseHandlerFunc {
	return func(resp *http.Response) error {
		defer resp.Body.Close()
		if resp.ContentLength > MaxAnswerBytes {
			return errTooLarge
		}
		var buf bytes.Buffer
		if resp.ContentLength > 0 {
			buf.Grow(int(resp.ContentLength) + bytes.MinRead)
		}
		if _, err := buf.ReadFrom(io.LimitReader(resp.Body, MaxAnswerBytes+1)); err != nil {
			return err
		}
		if buf.Len() > MaxAnswerBytes {
			return errTooLarge
		}
		st.body = buf.Bytes()
		return nil
	}
}

// pageError names the page and its (redacted) URL.
type pageError struct {
	page int
	url  string
	err  error
}

func (e *pageError) Error() string { return fmt.Sprintf("page %d (%s): %v", e.page, e.url, e.err) }
func (e *pageError) Unwrap() error { return e.err }

// request is one page's request.
type request struct {
	url  *url.URL
	body map[string]any
}

// List reads every page and returns every record, or an error naming the
// page that could not be read.
func (s *Source) List(ctx context.Context) (*connectors.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if err := s.auth.begin(); err != nil {
		return nil, s.red.error(fmt.Errorf("%w: %w", ErrRequest, err))
	}
	started := time.Now()
	b := &batchBuilder{}
	seenCursor := map[string]int{}
	seenPage := map[uint64]int{}
	total := -1
	req := s.first()
	page := 1
	if c := s.cursorKey(req); c != "" {
		seenCursor[c] = 1
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, s.fail(page, req.url, fmt.Errorf("%w: %w", ErrRequest, err))
		}
		where := s.red.url(req.url)
		ans, err := s.fetch(ctx, page, req, where)
		if err != nil {
			return nil, err
		}
		recs, err := s.records(ans.value)
		if err != nil {
			return nil, s.fail(page, req.url, err)
		}
		fp, err := b.addPage(recs, where, page)
		if err != nil {
			return nil, s.fail(page, req.url, err)
		}
		s.log.Debug("read page", zap.Int("page", page), zap.String("url", where), zap.Int("records", len(recs)))

		if !s.paths.total.IsZero() {
			t, err := s.total(ans.value)
			switch {
			case err != nil:
				return nil, s.fail(page, req.url, err)
			case t < 0 && page == 1:
				return nil, s.fail(page, req.url, fmt.Errorf("%w: no total at %s", ErrAnswer, s.paths.total))
			case t >= 0 && total >= 0 && t != total:
				return nil, s.fail(page, req.url, fmt.Errorf("%w: the total changed from %d to %d during the read: the data changed under the pages", ErrIncomplete, total, t))
			case t >= 0:
				total = t
			}
		}
		if len(recs) > 0 && s.paging.Type != "none" {
			if prev, dup := seenPage[fp]; dup {
				return nil, s.fail(page, req.url, fmt.Errorf("%w: page %d repeats page %d: the server ignores %s or loops", ErrIncomplete, page, prev, s.pageParamName()))
			}
			seenPage[fp] = page
		}

		next, more, err := s.next(req, ans, len(recs), b.count, total)
		if err != nil {
			return nil, s.fail(page, req.url, err)
		}
		if !more {
			break
		}
		if c := s.cursorKey(next); c != "" {
			if prev, dup := seenCursor[c]; dup {
				return nil, s.fail(page, req.url, fmt.Errorf("%w: the next %s was already used by page %d: the server loops", ErrIncomplete, s.pageParamName(), prev))
			}
			seenCursor[c] = page + 1
		}
		if page >= s.maxPages {
			return nil, s.fail(page, req.url, fmt.Errorf("%w: max_pages %d reached and the server has more pages (%d records read so far)", ErrIncomplete, s.maxPages, b.count))
		}
		req = next
		page++
	}
	if total >= 0 && b.count != total {
		return nil, s.fail(page, req.url, fmt.Errorf("%w: read %d records over %d pages, but the answer says the total is %d", ErrIncomplete, b.count, page, total))
	}
	if b.count < s.cfg.MinRecords {
		return nil, fmt.Errorf("%w: %s: %d records, fewer than min_records %d", ErrIncomplete, s.red.url(s.base), b.count, s.cfg.MinRecords)
	}
	batch := b.batch(s.name, s.red.url(s.base))
	s.log.Info("read http source", zap.String("url", batch.Location), zap.Int("pages", page), zap.Int("records", len(batch.Records)), zap.Duration("duration", time.Since(started)))
	return batch, nil
}

func (s *Source) fail(page int, u *url.URL, err error) error {
	return s.red.error(&pageError{page: page, url: s.red.url(u), err: err})
}

func (s *Source) pageParamName() string {
	switch s.paging.Type {
	case "next_url":
		return "URL at " + s.paging.NextPath
	case "link_header":
		return "URL in the Link header"
	}
	return s.paging.Param
}

// first is the first page's request.
func (s *Source) first() request {
	u := *s.base
	r := request{url: &u}
	if s.method == "POST" {
		r.body = maps.Clone(s.cfg.Body)
		if r.body == nil {
			r.body = map[string]any{}
		}
	}
	p := s.paging
	switch p.Type {
	case "page", "offset":
		s.setParam(&r, p.Param, strconv.Itoa(*p.Start), *p.Start)
		if p.SizeParam != "" && p.Size > 0 {
			s.setParam(&r, p.SizeParam, strconv.Itoa(p.Size), p.Size)
		}
	}
	return r
}

// setParam sets a pagination parameter in the query or the body; in the
// body a number stays a number.
func (s *Source) setParam(r *request, name, text string, v any) {
	if s.paging.In == "body" {
		r.body[name] = v
		return
	}
	q := r.url.Query()
	q.Set(name, text)
	r.url.RawQuery = q.Encode()
}

func (s *Source) cursorKey(r request) string {
	switch s.paging.Type {
	case "cursor":
		if s.paging.In == "body" {
			return fmt.Sprint(r.body[s.paging.Param])
		}
		return r.url.Query().Get(s.paging.Param)
	case "next_url", "link_header":
		return r.url.String()
	}
	return ""
}

// next decides whether another page follows and builds its request.
// Without an explicit end (has_more_path, a total, no next cursor or link),
// page and offset pagination read until an empty page: a short page is not
// taken for the last one, since servers cap page sizes silently.
func (s *Source) next(cur request, ans *answer, n, count, total int) (request, bool, error) {
	p := s.paging
	hasMore := func() (known, more bool, err error) {
		pp, name, last := s.paths.hasMore, p.HasMorePath, false
		if !s.paths.last.IsZero() {
			pp, name, last = s.paths.last, p.LastPath, true
		}
		if pp.IsZero() {
			return false, false, nil
		}
		v, ok := pp.lookup(ans.value)
		if !ok {
			return false, false, fmt.Errorf("%w: no value at %s", ErrAnswer, name)
		}
		switch strings.ToLower(scalarText(v)) {
		case "true", "1":
			return true, !last, nil
		case "false", "0":
			return true, last, nil
		}
		return false, false, fmt.Errorf("%w: %s is %v, not true or false", ErrAnswer, name, v)
	}
	switch p.Type {
	case "none":
		return request{}, false, nil
	case "page", "offset":
		known, more, err := hasMore()
		switch {
		case err != nil:
			return request{}, false, err
		case known && !more:
			return request{}, false, nil
		case !known && n == 0:
			return request{}, false, nil
		case !known && total >= 0 && count >= total:
			return request{}, false, nil
		case known && n == 0:
			return request{}, false, fmt.Errorf("%w: an empty page says more pages follow (%s)", ErrAnswer, p.HasMorePath+p.LastPath)
		}
		r := s.clone(cur)
		if p.Type == "page" {
			n, _ := s.position(cur)
			s.setParam(&r, p.Param, strconv.Itoa(n+1), n+1)
		} else {
			off, _ := s.position(cur)
			// Advance by what was received: a server that caps the limit
			// still yields every record.
			s.setParam(&r, p.Param, strconv.Itoa(off+n), off+n)
		}
		return r, true, nil
	case "cursor":
		known, more, err := hasMore()
		if err != nil {
			return request{}, false, err
		}
		if known && !more {
			return request{}, false, nil
		}
		v, _ := s.paths.next.lookup(ans.value)
		c := scalarText(v)
		if c == "" {
			if known {
				return request{}, false, fmt.Errorf("%w: the answer says more pages follow (%s) but has no cursor at %s", ErrAnswer, p.HasMorePath+p.LastPath, p.NextPath)
			}
			return request{}, false, nil
		}
		r := s.clone(cur)
		s.setParam(&r, p.Param, c, c)
		return r, true, nil
	case "next_url":
		v, _ := s.paths.next.lookup(ans.value)
		link := scalarText(v)
		if link == "" {
			return request{}, false, nil
		}
		return s.follow(cur, link)
	case "link_header":
		link := nextLink(ans.header.Values("Link"))
		if link == "" {
			return request{}, false, nil
		}
		return s.follow(cur, link)
	}
	return request{}, false, fmt.Errorf("pagination type %q", p.Type)
}

// follow makes the request for a server-given next link. The link must stay
// on the configured scheme and host: credentials go with it.
func (s *Source) follow(cur request, link string) (request, bool, error) {
	u, err := cur.url.Parse(link)
	if err != nil {
		return request{}, false, fmt.Errorf("%w: the next link %q does not parse", ErrAnswer, s.red.rawURL(link))
	}
	if u.Scheme != s.base.Scheme || u.Host != s.base.Host {
		return request{}, false, fmt.Errorf("%w: the next link points to %s://%s, not %s://%s; refusing to send credentials there", ErrAnswer, u.Scheme, u.Host, s.base.Scheme, s.base.Host)
	}
	r := request{url: u, body: cur.body}
	return r, true, nil
}

func (s *Source) clone(r request) request {
	u := *r.url
	return request{url: &u, body: maps.Clone(r.body)}
}

// position reads the current page number or offset back from a request.
func (s *Source) position(r request) (int, error) {
	if s.paging.In == "body" {
		n, _ := r.body[s.paging.Param].(int)
		return n, nil
	}
	return strconv.Atoi(r.url.Query().Get(s.paging.Param))
}

// nextLink returns the target of the rel="next" link of RFC 8288 Link
// header values.
func nextLink(values []string) string {
	for _, v := range values {
		for len(v) > 0 {
			v = strings.TrimLeft(v, " ,")
			if !strings.HasPrefix(v, "<") {
				break
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			v = v[end+1:]
			// Parameters up to the next link (a comma outside quotes).
			var params string
			inQuote := false
			i := 0
			for ; i < len(v); i++ {
				if v[i] == '"' {
					inQuote = !inQuote
				}
				if v[i] == ',' && !inQuote {
					break
				}
			}
			params, v = v[:i], v[i:]
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// answer is a decoded page.
type answer struct {
	value  any
	header http.Header
}

// fetch requests one page, with retries and, after a 401, one fresh token.
func (s *Source) fetch(ctx context.Context, page int, r request, where string) (*answer, error) {
	var raw []byte
	if r.body != nil {
		var err error
		if raw, err = json.Marshal(r.body); err != nil {
			return nil, s.fail(page, r.url, fmt.Errorf("body: %w", err))
		}
	}
	for refreshed := false; ; refreshed = true {
		st := &attempt{page: page, url: where, start: time.Now()}
		actx := context.WithValue(ctx, attemptKey{}, st)
		req, err := retryablehttp.NewRequestWithContext(actx, s.method, r.url.String(), raw)
		if err != nil {
			return nil, s.fail(page, r.url, fmt.Errorf("%w: %w", ErrRequest, err))
		}
		req.Header.Set("Accept", "application/json")
		if raw != nil {
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
		}
		for k, v := range s.cfg.Headers {
			req.Header.Set(k, v)
		}
		// Token requests run under ctx, not actx: their attempts are not the page's.
		if err := s.auth.apply(ctx, req.Request); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w: %w", ErrRequest, ctx.Err())
			}
			return nil, s.fail(page, r.url, err)
		}
		req.SetResponseHandler(readBody(st))
		resp, err := s.client.Do(req)
		if err != nil {
			if resp != nil {
				resp.Body.Close()
			}
			if ctx.Err() != nil {
				return nil, s.fail(page, r.url, fmt.Errorf("%w: %w", ErrRequest, ctx.Err()))
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Not the caller's deadline (checked above): the request's own.
				return nil, s.fail(page, r.url, fmt.Errorf("%w%s: no complete answer within timeout %s", ErrRequest, s.tries(st), s.client.HTTPClient.Timeout))
			}
			return nil, s.fail(page, r.url, fmt.Errorf("%w%s: %w", ErrRequest, s.tries(st), unwrapURLError(err)))
		}
		body := st.body
		if st.body == nil { // a retryable status whose retries ran out
			body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		}
		resp.Body.Close()
		if (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && s.auth.refreshable() && !refreshed {
			s.log.Info("the server refused the token: fetching a new one", zap.Int("page", page), zap.Int("status", resp.StatusCode))
			s.auth.invalidate()
			continue
		}
		if resp.StatusCode/100 != 2 {
			why := ""
			if st.giveUp != "" {
				why = "; " + st.giveUp
			}
			if ex := s.red.excerpt(body); ex != "" {
				why += ": " + ex
			}
			return nil, s.fail(page, r.url, fmt.Errorf("%w: HTTP %s%s%s", ErrRequest, resp.Status, s.tries(st), why))
		}
		v, err := decodeJSON(body)
		if err != nil {
			ex := ""
			if t := bytes.TrimSpace(body); len(t) > 0 && t[0] != '{' && t[0] != '[' {
				ex = ": " + s.red.excerpt(body) // an error page; JSON would be people
			}
			return nil, s.fail(page, r.url, fmt.Errorf("%w: the answer is not JSON (%s, %d bytes): %v%s", ErrAnswer, contentType(resp), len(body), err, ex))
		}
		if err := s.checkSuccess(v); err != nil {
			return nil, s.fail(page, r.url, err)
		}
		return &answer{value: v, header: resp.Header}, nil
	}
}

func (s *Source) tries(st *attempt) string {
	if st.tries <= 1 {
		return ""
	}
	return fmt.Sprintf(" after %d attempts", st.tries)
}

// decodeJSON decodes exactly one JSON value, numbers kept as their text.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated at byte %d", len(b))
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data after the JSON value at byte %d", dec.InputOffset())
	}
	return v, nil
}

func (s *Source) checkSuccess(v any) error {
	if s.paths.success.IsZero() {
		return nil
	}
	want := cmpOr(s.cfg.SuccessValue, "0")
	got, ok := s.paths.success.lookup(v)
	if ok && scalarText(got) == want {
		return nil
	}
	msg := ""
	if !s.paths.message.IsZero() {
		if m, ok := s.paths.message.lookup(v); ok {
			msg = ": " + strconv.Quote(s.red.excerpt([]byte(scalarText(m))))
		}
	}
	if !ok {
		return fmt.Errorf("%w: no status at %s%s", ErrAnswer, s.paths.success, msg)
	}
	return fmt.Errorf("%w: %s is %s, not %s%s", ErrAnswer, s.paths.success, strconv.Quote(scalarText(got)), want, msg)
}

func (s *Source) records(v any) ([]any, error) {
	r, ok := s.paths.records.lookup(v)
	if !ok {
		if s.paths.records.IsZero() {
			return nil, fmt.Errorf("%w: the answer is not an array; set records_path", ErrAnswer)
		}
		return nil, fmt.Errorf("%w: no records at %s (answer keys: %s)", ErrAnswer, s.paths.records, keysOf(v))
	}
	switch x := r.(type) {
	case nil:
		return nil, nil
	case []any:
		return x, nil
	}
	if s.paths.records.IsZero() {
		return nil, fmt.Errorf("%w: the answer is an object, not an array; set records_path (answer keys: %s)", ErrAnswer, keysOf(v))
	}
	return nil, fmt.Errorf("%w: %s is not an array", ErrAnswer, s.paths.records)
}

// total reads the total; -1 when the page has none.
func (s *Source) total(v any) (int, error) {
	t, ok := s.paths.total.lookup(v)
	if !ok || t == nil {
		return -1, nil
	}
	n, err := strconv.Atoi(scalarText(t))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: the total at %s is %v, not a count", ErrAnswer, s.paths.total, t)
	}
	return n, nil
}

// unwrapURLError drops net/url's "Get \"https://…?token=…\":" prefix: the
// URL is named, redacted, by the caller.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
