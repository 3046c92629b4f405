// Package wecom is the WeCom (企业微信) contacts API client orgsync writes
// through: token caching, WeCom-aware retries, per-API rate limiting and
// 45009 windows, typed errors, and the contacts calls a sync needs.
//
// Every call is paced (per-API token bucket, global in-flight cap), retried
// on transient failures (-1, 6000, 45033, HTTP 5xx, network errors) with
// jittered exponential backoff, and re-sent once with a fresh token on
// 40014/42001. Everything else comes back as *APIError (or *ConfigError,
// *BanError). Neither the access token nor the secret ever appears in a log
// line or an error string.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// maxResponseBytes bounds a response body; list_id pages of 10,000 rows
// are about 0.5 MB.
const maxResponseBytes = 64 << 20

// maxBanJitter spreads callers released at the end of a 45009 window.
const maxBanJitter = 5 * time.Second

// maxRefusalsPerCall bounds how many 45009 answers one call accepts before
// it gives up with *BanError, even if other callers' successes keep
// resetting the API's ban escalation in between.
const maxRefusalsPerCall = 3

// Client calls the WeCom contacts API. It is safe for concurrent use.
type Client struct {
	cfg   Config
	base  string // BaseURL + "/cgi-bin/"
	log   *zap.Logger
	http  *retryablehttp.Client
	sem   chan struct{}
	clock Clock

	tokens *tokenSource

	mu   sync.Mutex
	apis map[string]*apiState

	statsMu sync.Mutex
	stats   Stats

	observer atomic.Pointer[func(api string, d time.Duration)]
}

// SetObserver sets a function called after every HTTP attempt with its API
// and how long WeCom took to answer (transport failures included, pacing
// and queueing excluded): the daemon's latency histogram. nil removes it.
func (c *Client) SetObserver(f func(api string, d time.Duration)) {
	if f == nil {
		c.observer.Store(nil)
		return
	}
	c.observer.Store(&f)
}

// apiState is the pacing and 45009 state of one API path. A call looks
// it up once (Client.api takes the client-wide lock) and hands it to the
// gates, the transport and the ban bookkeeping.
type apiState struct {
	name string // the API path, e.g. "user/create"
	lim  *rate.Limiter

	mu       sync.Mutex
	banUntil time.Time
	strikes  int // 45009 windows in a row without a success between them
	hour     hourWindow
	// The clock minute (Unix minutes) attempts are being counted for, and
	// how many sent in it were answered with anything but 45009: what
	// WeCom let through in that window, which the first 45009 turns into
	// the API's pacing (learned).
	winMinute   int64
	winAccepted int
	// learned is the per-minute limit the 45009s showed (0 = none yet);
	// the limiter then paces at learnedShare of it.
	learned int
	// span counts the attempts since the last MarkPacing, with the first
	// and last send times, for the achieved rate.
	spanCalls           int
	spanFirst, spanLast time.Time
}

// learnedShare is the share of a learned limit the client paces at: the
// same margin as pacing at 9,200 against WeCom's 10,000 (N writes then
// take about 1.09 × N / limit, inside DESIGN §5's 1.1).
const learnedShare = 0.92

// burstFor is the token bucket size for a per-minute rate: a tenth of a
// second's worth, between 1 and 20.
func burstFor(perMinute int) int { return min(max(perMinute/600, 1), 20) }

// hourWindow counts calls per clock minute over the last hour, for the
// per-API hourly limit (WeCom counts 150,000/h besides 10,000/min).
type hourWindow struct {
	minute [60]int64 // the Unix minute each slot counts
	n      [60]int
}

// used returns the calls in the hour ending with minute now.
func (h *hourWindow) used(now int64) int {
	total := 0
	for i := range h.minute {
		if h.minute[i] > now-60 && h.minute[i] <= now {
			total += h.n[i]
		}
	}
	return total
}

func (h *hourWindow) add(now int64) {
	i := now % 60
	if h.minute[i] != now {
		h.minute[i], h.n[i] = now, 0
	}
	h.n[i]++
}

// freeAt is when the oldest counted minute leaves the window.
func (h *hourWindow) freeAt(now int64) time.Time {
	oldest := now
	for i := range h.minute {
		if h.n[i] > 0 && h.minute[i] > now-60 && h.minute[i] < oldest {
			oldest = h.minute[i]
		}
	}
	return time.Unix((oldest+60)*60, 0)
}

// New validates cfg and builds a Client. It makes no network call.
func New(cfg Config, log *zap.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("wecom client config: %w", err)
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{
		cfg:   cfg,
		base:  strings.TrimRight(cfg.BaseURL, "/") + "/cgi-bin/",
		log:   log, // the caller names it (the engine: "wecom")
		sem:   make(chan struct{}, cfg.Concurrency),
		clock: cfg.Clock,
		apis:  map[string]*apiState{},
		stats: newStats(),
	}
	c.tokens = &tokenSource{c: c}

	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &pacedTransport{c: c, base: base}
	if hc.Timeout == 0 {
		hc.Timeout = cfg.Timeout
	}
	// http:// answers 301 to https and a redirected POST turns into a GET:
	// surface the redirect instead of following it.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	c.http = &retryablehttp.Client{
		HTTPClient:     &hc,
		Logger:         nil, // it would log URLs; we log redacted events ourselves
		RetryWaitMin:   cfg.RetryWaitMin,
		RetryWaitMax:   cfg.RetryWaitMax,
		RetryMax:       cfg.MaxRetries,
		CheckRetry:     c.checkRetry,
		Backoff:        jitterBackoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: c.onAttempt,
	}
	return c, nil
}

// CorpID returns the configured corp id.
func (c *Client) CorpID() string { return c.cfg.CorpID }

func (c *Client) api(name string) *apiState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.apis[name]
	if !ok {
		perSec := rate.Limit(float64(c.cfg.RatePerMinute) / 60)
		st = &apiState{name: name, lim: rate.NewLimiter(perSec, burstFor(c.cfg.RatePerMinute))}
		c.apis[name] = st
	}
	return st
}

// callInfo travels in the request context so the transport, the retry
// policy and the attempt hook know which API an attempt belongs to.
type callInfo struct {
	api    string
	st     *apiState     // nil only outside call(); the transport looks it up then
	reason string        // why the last attempt is being retried (credential-free)
	last   *responseBody // the latest attempt's answer; attempts are sequential
	// uncertain is set when an attempt was (or may have been) sent and no
	// definite WeCom answer came back: the write may have happened.
	uncertain bool
}

type callKey struct{}

func infoFrom(ctx context.Context) *callInfo {
	if ci, ok := ctx.Value(callKey{}).(*callInfo); ok {
		return ci
	}
	return &callInfo{api: "unknown"}
}

// request is one logical call.
type request struct {
	api     string
	method  string
	query   url.Values
	body    []byte // nil for GET
	ctype   string
	noToken bool // gettoken itself
}

// jsonBody encodes v as raw UTF-8 JSON: no \uXXXX escapes for CJK (the
// encoder never makes them) and no HTML escaping of <, >, & (which it does
// by default and WeCom may reject as 40033).
func jsonBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// postJSON calls a POST API with a JSON body and decodes the answer into out.
func (c *Client) postJSON(ctx context.Context, api string, in, out any) error {
	body, err := jsonBody(in)
	if err != nil {
		return fmt.Errorf("wecom %s: encode request: %w", api, err)
	}
	return c.call(ctx, request{api: api, method: http.MethodPost, body: body, ctype: "application/json; charset=utf-8"}, out)
}

// get calls a GET API with query parameters and decodes the answer into out.
func (c *Client) get(ctx context.Context, api string, q url.Values, out any) error {
	return c.call(ctx, request{api: api, method: http.MethodGet, query: q}, out)
}

// call runs one logical call: 45009 gate, token, paced and retried HTTP
// exchange, one re-send after a token error, errcode handling.
func (c *Client) call(ctx context.Context, r request, out any) error {
	st := c.api(r.api)
	// The caller's values are never modified: only access_token changes
	// between rounds, and Set replaces its slice.
	q := make(url.Values, len(r.query)+1)
	maps.Copy(q, r.query)
	tokenRetried := false
	refusals := 0 // 45009 answers to this call
	uncertain := false
	for {
		if err := c.waitBan(ctx, st); err != nil {
			return err
		}
		var tok string
		if !r.noToken {
			var err error
			if tok, err = c.tokens.get(ctx); err != nil {
				return err
			}
			q.Set("access_token", tok)
		}
		if err := c.hourGate(ctx, st); err != nil {
			return err
		}
		sentAt := c.clock.Now()
		raw, code, msg, maybeSent, err := c.exchange(ctx, r, st, q)
		uncertain = uncertain || maybeSent
		if errors.Is(err, errBannedWhileQueued) {
			continue // waitBan waits for the window or returns the BanError
		}
		if err != nil {
			return MarkUncertain(err, uncertain)
		}
		switch {
		case code == 0:
			c.clearBan(st)
			if out != nil {
				if err := json.Unmarshal(raw, out); err != nil {
					return fmt.Errorf("wecom %s: decode response: %w", r.api, err)
				}
			}
			return nil
		case (code == CodeInvalidToken || code == CodeTokenExpired) && !r.noToken && !tokenRetried:
			tokenRetried = true
			c.tokens.invalidate(tok)
			c.log.Debug("access token rejected, fetching a new one", zap.String("api", r.api), zap.Int("errcode", code))
			continue
		case code == CodeRateLimited:
			until := c.recordBan(st, sentAt)
			if refusals++; refusals >= maxRefusalsPerCall {
				return MarkUncertain(&BanError{API: r.api, Until: until}, uncertain)
			}
			continue // waitBan waits for the window or fails fast
		default:
			return MarkUncertain(newAPIError(r.api, code, c.redact(msg, tok)), uncertain)
		}
	}
}

// exchange sends r through retryablehttp and returns the body and errcode
// of the final attempt, and whether any attempt may have reached WeCom
// without a definite answer. Transport failures come back scrubbed.
func (c *Client) exchange(ctx context.Context, r request, st *apiState, q url.Values) (raw []byte, code int, msg string, maybeSent bool, err error) {
	ci := &callInfo{api: r.api, st: st}
	defer func() { maybeSent = ci.uncertain }()
	ctx = context.WithValue(ctx, callKey{}, ci)
	u := c.base + r.api
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body any
	if r.body != nil {
		body = r.body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, 0, "", false, &transportError{api: r.api, msg: "build request: " + scrub(err.Error()), err: errors.Unwrap(err)}
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, "", false, c.transportErr(r.api, err)
	}
	_ = resp.Body.Close() // already read by pacedTransport into ci.last
	rb := ci.last
	if rb == nil { // cannot happen: every response passes through pacedTransport
		return nil, 0, "", false, fmt.Errorf("wecom %s: internal error: unpaced response", r.api)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, 0, "", false, fmt.Errorf("wecom %s: HTTP %d redirect to %q: set base_url to the final https:// address",
			r.api, resp.StatusCode, scrub(resp.Header.Get("Location")))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, "", false, fmt.Errorf("wecom %s: unexpected HTTP status %d %s", r.api, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if rb.parseErr != nil {
		return nil, 0, "", false, fmt.Errorf("wecom %s: response is not WeCom JSON: %w", r.api, rb.parseErr)
	}
	return rb.raw, rb.code, rb.msg, false, nil
}

// transportErr converts an error from the HTTP stack into one that never
// carries the request URL (which holds the token or the secret).
func (c *Client) transportErr(api string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &transportError{api: api, msg: scrub(fmt.Sprintf("%s %s: %v", ue.Op, api, ue.Err)), err: ue.Err}
	}
	return &transportError{api: api, msg: scrub(err.Error()), err: err}
}

// redact removes the secret and the given token from s (errmsg echoes).
func (c *Client) redact(s, tok string) string {
	if tok != "" {
		s = strings.ReplaceAll(s, tok, "REDACTED")
	}
	if sec := c.cfg.Secret.Reveal(); sec != "" {
		s = strings.ReplaceAll(s, sec, "REDACTED")
	}
	return scrub(s)
}

// retryable errcodes: WeCom's "try again" answers.
func retryableCode(code int) bool {
	return code == CodeSystemBusy || code == CodeDataConflict || code == CodeConcurrency
}

// checkRetry is the WeCom-aware retry policy: HTTP 200 with errcode -1,
// 6000 or 45033, HTTP 5xx/429 and network errors (a dropped connection
// included; the body is rewound) are retried; everything else is final.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	ci := infoFrom(ctx)
	if errors.Is(err, errBannedWhileQueued) {
		return false, nil
	}
	if err != nil {
		retry, _ := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
		ci.reason = "transport: " + c.transportErr(ci.api, err).Error()
		return retry, nil
	}
	if resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented) {
		ci.reason = fmt.Sprintf("http status %d", resp.StatusCode)
		return true, nil
	}
	if rb := ci.last; rb != nil && resp.StatusCode == http.StatusOK && retryableCode(rb.code) {
		ci.reason = fmt.Sprintf("errcode %d", rb.code)
		return true, nil
	}
	return false, nil
}

// onAttempt runs before every attempt; attempt > 0 is a retry.
func (c *Client) onAttempt(_ retryablehttp.Logger, req *http.Request, attempt int) {
	if attempt == 0 {
		return
	}
	ci := infoFrom(req.Context())
	c.count(func(s *Stats) { s.Retries[ci.api]++ })
	c.log.Debug("retrying call", zap.String("api", ci.api), zap.Int("attempt", attempt+1), zap.String("reason", ci.reason))
}

// jitterBackoff is exponential backoff with jitter: attempt n waits a
// random duration in [d/2, d] where d = min(max, min·2ⁿ).
func jitterBackoff(minWait, maxWait time.Duration, attempt int, _ *http.Response) time.Duration {
	d := minWait
	for i := 0; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// errBannedWhileQueued stops a request that was queued for a concurrency
// slot while its API got a 45009; it is never retried by the transport.
var errBannedWhileQueued = errors.New("api banned (45009) while the request was queued")

// banned reports whether st's API is inside a 45009 window now.
func (c *Client) banned(st *apiState) bool {
	st.mu.Lock()
	until := st.banUntil
	st.mu.Unlock()
	return until.After(c.clock.Now())
}

// waitBan holds a call while its API is in a 45009 window: it waits when
// this is the first window in a row and it ends within MaxBanWait, and
// fails fast with *BanError otherwise.
func (c *Client) waitBan(ctx context.Context, st *apiState) error {
	api := st.name
	for {
		st.mu.Lock()
		until, strikes := st.banUntil, st.strikes
		st.mu.Unlock()
		d := until.Sub(c.clock.Now())
		if d <= 0 {
			return nil
		}
		if strikes > 1 || d > c.cfg.MaxBanWait {
			return &BanError{API: api, Until: until}
		}
		c.count(func(s *Stats) { s.BanWaits[api]++ })
		if err := c.clock.Sleep(ctx, d); err != nil {
			return fmt.Errorf("wecom %s: waiting for the 45009 window to end: %w", api, err)
		}
	}
}

// hourGate counts a call against the API's hourly budget, waiting for
// room when it comes within MaxBanWait and failing with *BanError
// otherwise, so the client never earns WeCom's one-hour block.
func (c *Client) hourGate(ctx context.Context, st *apiState) error {
	api := st.name
	for {
		now := c.clock.Now()
		minute := now.Unix() / 60
		st.mu.Lock()
		if st.hour.used(minute) < c.cfg.RatePerHour {
			st.hour.add(minute)
			st.mu.Unlock()
			return nil
		}
		until := st.hour.freeAt(minute)
		st.mu.Unlock()
		d := until.Sub(now)
		if d > c.cfg.MaxBanWait {
			return &BanError{API: api, Until: until}
		}
		c.count(func(s *Stats) { s.RateLimitWaits[api]++; s.RateLimitWaitTime += d })
		if err := c.clock.Sleep(ctx, d); err != nil {
			return fmt.Errorf("wecom %s: waiting for the hourly budget: %w", api, err)
		}
	}
}

// recordBan starts a 45009 window for st's API unless the refused request was
// sent before the latest window ended (concurrent callers hitting the same
// window count once, late answers do not start a new one). The first window
// ends at the next minute boundary (WeCom's minute block); each repeat
// doubles from two minutes up to an hour (the hour block).
func (c *Client) recordBan(st *apiState, sentAt time.Time) time.Time {
	api := st.name
	now := c.clock.Now()
	st.mu.Lock()
	if sentAt.Before(st.banUntil) {
		until := st.banUntil
		st.mu.Unlock()
		return until
	}
	st.strikes++
	strikes := st.strikes
	learned, lowered := c.learnLocked(st, sentAt, now)
	jitter := rand.N(maxBanJitter)
	if strikes == 1 {
		st.banUntil = now.Truncate(time.Minute).Add(time.Minute + jitter)
	} else {
		d := time.Minute << min(strikes-1, 6)
		st.banUntil = now.Add(min(d, time.Hour) + jitter)
	}
	until := st.banUntil
	st.mu.Unlock()
	c.count(func(s *Stats) {
		s.Bans[api]++
		if lowered {
			s.LearnedLimits[api] = learned
		}
	})
	if lowered {
		c.log.Warn("wecom rate limit hit (45009): pacing the api at the limit its window showed, after the window ends",
			zap.String("api", api), zap.Time("until", until), zap.Int("limit_per_minute", learned),
			zap.Float64("pacing_per_minute", float64(learned)*learnedShare), zap.Int("configured_per_minute", c.cfg.RatePerMinute))
	} else {
		c.log.Warn("wecom rate limit hit (45009), pausing api", zap.String("api", api), zap.Time("until", until), zap.Int("in_a_row", strikes))
	}
	return until
}

// learnLocked turns a 45009 into the API's pacing: the calls WeCom
// accepted in the refused call's minute are what its limit let through
// (less, if someone else used the same API then: erring low), so the
// limiter is lowered to learnedShare of that. It only ever lowers: a
// configured rate below the limit stays. st.mu is held.
func (c *Client) learnLocked(st *apiState, sentAt, now time.Time) (int, bool) {
	if st.winMinute != sentAt.Unix()/60 || st.winAccepted == 0 {
		return st.learned, false
	}
	n := st.winAccepted
	if st.learned != 0 && n >= st.learned {
		return st.learned, false
	}
	perMin := float64(n) * learnedShare
	if st.learned == 0 && perMin >= float64(c.cfg.RatePerMinute) {
		return 0, false // the configured rate is already below it
	}
	st.learned = n
	st.lim.SetLimitAt(now, rate.Limit(perMin/60))
	st.lim.SetBurstAt(now, burstFor(int(perMin)))
	return n, true
}

// countAttempt records one attempt of st's API sent at sentAt and whether
// WeCom accepted it (any answer but 45009), for learnLocked and Pacing.
func (c *Client) countAttempt(st *apiState, sentAt time.Time, accepted bool) {
	m := sentAt.Unix() / 60
	st.mu.Lock()
	defer st.mu.Unlock()
	// The window only moves forward: the late answer of a call sent in
	// an earlier minute must not reset the count of the current one.
	if m > st.winMinute {
		st.winMinute, st.winAccepted = m, 0
	}
	if accepted && m == st.winMinute {
		st.winAccepted++
	}
	if st.spanCalls == 0 {
		st.spanFirst = sentAt
	}
	st.spanCalls++
	st.spanLast = sentAt
}

// APIPace is how one API was paced since the last MarkPacing.
type APIPace struct {
	API   string `json:"api"`
	Calls int    `json:"calls"` // attempts, retries included (WeCom counts them)
	// PerMinute is the achieved rate: calls over the span from the first
	// attempt to the last (0 with fewer than two).
	PerMinute float64 `json:"per_minute"`
	// Limit is the per-minute limit paced against: the one a 45009 showed
	// (Learned), else WeCom's published MaxRatePerMinute.
	Limit   int  `json:"limit_per_minute"`
	Learned bool `json:"limit_learned,omitempty"`
	// Ratio is PerMinute / Limit: at most learnedShare (or the configured
	// share) when pacing holds.
	Ratio float64 `json:"ratio"`
}

// MarkPacing starts a new span for Pacing (an apply calls it first).
func (c *Client) MarkPacing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.apis {
		st.mu.Lock()
		st.spanCalls = 0
		st.mu.Unlock()
	}
}

// Pacing reports each API called since MarkPacing, by name.
func (c *Client) Pacing() []APIPace {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []APIPace
	for name, st := range c.apis {
		st.mu.Lock()
		p := APIPace{API: name, Calls: st.spanCalls, Limit: MaxRatePerMinute}
		if st.learned > 0 {
			p.Limit, p.Learned = st.learned, true
		}
		if span := st.spanLast.Sub(st.spanFirst); st.spanCalls > 1 && span > 0 {
			p.PerMinute = float64(st.spanCalls-1) / span.Minutes()
			p.Ratio = p.PerMinute / float64(p.Limit)
		}
		st.mu.Unlock()
		if p.Calls > 0 {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b APIPace) int { return strings.Compare(a.API, b.API) })
	return out
}

// clearBan ends st's run of 45009 windows after a success.
func (c *Client) clearBan(st *apiState) {
	st.mu.Lock()
	st.strikes = 0
	st.mu.Unlock()
}

// responseBody is the fully read body of one attempt with its envelope
// parsed once, shared by the retry policy and the caller (through
// callInfo: net/http wraps resp.Body, so it cannot carry it).
type responseBody struct {
	raw      []byte
	code     int
	msg      string
	parseErr error
}

// envelope is WeCom's common answer. A missing errcode counts as success.
type envelope struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// pacedTransport applies the per-API rate limit and the in-flight cap to
// every attempt (retries included, since WeCom counts them), reads the body
// and parses the envelope.
type pacedTransport struct {
	c    *Client
	base http.RoundTripper
}

func (p *pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	ci := infoFrom(ctx)
	api := ci.api
	ci.last = nil
	c := p.c
	st := ci.st
	if st == nil {
		st = c.api(api)
	}
	if err := c.pace(ctx, st); err != nil {
		return nil, err
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	// A 45009 may have arrived while this request waited for a slot: do
	// not send it into a known ban; call() then waits or fails fast.
	if c.banned(st) {
		return nil, errBannedWhileQueued
	}

	sent := time.Now()
	sentAt := c.clock.Now()
	resp, err := p.base.RoundTrip(req)
	if obs := c.observer.Load(); obs != nil {
		defer func() { (*obs)(api, time.Since(sent)) }() // after the body is read
	}
	if err != nil {
		ci.uncertain = true // it may have been sent and applied
		c.countAttempt(st, sentAt, true)
		c.count(func(s *Stats) { s.TransportErrors[api]++ })
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	_ = resp.Body.Close()
	if err != nil {
		ci.uncertain = true
		c.countAttempt(st, sentAt, true)
		c.count(func(s *Stats) { s.TransportErrors[api]++ })
		return nil, fmt.Errorf("read response: %w", err)
	}
	rb := &responseBody{raw: raw}
	if len(raw) > maxResponseBytes {
		rb.parseErr = fmt.Errorf("response larger than %d bytes", maxResponseBytes)
	}
	if resp.StatusCode == http.StatusOK && rb.parseErr == nil {
		var env envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			rb.parseErr = err
		} else if env.ErrCode != nil {
			rb.code, rb.msg = *env.ErrCode, env.ErrMsg
		}
		c.count(func(s *Stats) { inc(s.Calls, api, rb.code) })
		c.countAttempt(st, sentAt, rb.code != CodeRateLimited)
	} else {
		c.countAttempt(st, sentAt, true)
		c.count(func(s *Stats) { inc(s.HTTPStatus, api, resp.StatusCode) })
	}
	// Only a WeCom answer says what happened. A gateway error, a body that is
	// not WeCom's, or "system busy" (-1, which may be answered after the
	// write) leave the outcome open.
	if resp.StatusCode != http.StatusOK || rb.parseErr != nil || rb.code == CodeSystemBusy {
		ci.uncertain = true
	}
	ci.last = rb
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp, nil
}

// pace waits for st's token bucket on the client's clock (so that a
// test's fake clock, which the emulator may share, paces too), counting
// waits.
func (c *Client) pace(ctx context.Context, st *apiState) error {
	api := st.name
	now := c.clock.Now()
	r := st.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d == 0 {
		return nil
	}
	c.count(func(s *Stats) { s.RateLimitWaits[api]++; s.RateLimitWaitTime += d })
	if err := c.clock.Sleep(ctx, d); err != nil {
		r.CancelAt(c.clock.Now())
		return err
	}
	return nil
}
