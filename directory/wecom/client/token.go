package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// refreshFraction of expires_in after which a token is replaced.
const refreshFraction = 0.8

// tokenSource caches the access token of the client's (corp id, secret)
// pair. A burst of callers needing a token makes one gettoken call
// (single-flight); a configuration error from gettoken is remembered for
// AuthFailureHold so a wrong secret is not retried into WeCom's one-hour
// IP ban.
type tokenSource struct {
	c  *Client
	sf singleflight.Group

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	failErr   error
	failUntil time.Time
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// get returns a token that is younger than 80% of its lifetime.
func (t *tokenSource) get(ctx context.Context) (string, error) {
	now := t.c.clock.Now()
	t.mu.Lock()
	if t.token != "" && now.Before(t.refreshAt) {
		tok := t.token
		t.mu.Unlock()
		return tok, nil
	}
	if t.failErr != nil && now.Before(t.failUntil) {
		err := t.failErr
		t.mu.Unlock()
		return "", err
	}
	t.mu.Unlock()

	// The fetch outlives any single caller's cancellation: other callers
	// share it.
	ch := t.sf.DoChan("token", func() (any, error) {
		return t.fetch(context.WithoutCancel(ctx))
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (t *tokenSource) fetch(ctx context.Context) (string, error) {
	c := t.c
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout*time.Duration(c.cfg.MaxRetries+2))
	defer cancel()
	q := url.Values{"corpid": {c.cfg.CorpID}, "corpsecret": {c.cfg.Secret.Reveal()}}
	var tr tokenResponse
	err := c.call(ctx, request{api: "gettoken", method: http.MethodGet, query: q, noToken: true}, &tr)
	if err == nil && tr.AccessToken == "" {
		err = errors.New("wecom gettoken: answer has no access_token")
	}
	if err != nil {
		if IsConfig(err) {
			t.mu.Lock()
			t.failErr, t.failUntil = err, c.clock.Now().Add(c.cfg.AuthFailureHold)
			t.mu.Unlock()
		}
		return "", err
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 7200 * time.Second
	}
	t.mu.Lock()
	t.token = tr.AccessToken
	t.refreshAt = c.clock.Now().Add(time.Duration(float64(ttl) * refreshFraction))
	t.failErr = nil
	t.mu.Unlock()
	c.count(func(s *Stats) { s.TokenFetches++ })
	c.log.Debug("fetched access token", zap.Int("expires_in", tr.ExpiresIn))
	return tr.AccessToken, nil
}

// invalidate drops tok if it is still the cached token (another caller
// may already have replaced it).
func (t *tokenSource) invalidate(tok string) {
	t.mu.Lock()
	if t.token == tok {
		t.token = ""
	}
	t.mu.Unlock()
}
