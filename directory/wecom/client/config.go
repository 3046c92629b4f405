package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/orgsync/orgsync/internal/config"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultBaseURL       = "https://qyapi.weixin.qq.com"
	DefaultRatePerMinute = 6000   // per API; WeCom allows 10,000/min per corp per API
	DefaultRatePerHour   = 140000 // per API; WeCom allows 150,000/h per corp per API
	DefaultConcurrency   = 8
	DefaultTimeout       = 30 * time.Second
	DefaultMaxRetries    = 3
	DefaultRetryWaitMin  = 500 * time.Millisecond
	DefaultRetryWaitMax  = 8 * time.Second
	DefaultMaxBanWait    = 70 * time.Second
	DefaultAuthHold      = 5 * time.Minute

	// MaxRatePerMinute is WeCom's published per-corp, per-API limit. The
	// client refuses to be configured at or above it.
	MaxRatePerMinute = 10000
	// MaxRatePerHour is WeCom's published per-corp, per-API hourly limit.
	MaxRatePerHour = 150000
	// NoRetries as Config.MaxRetries turns transport retries off.
	NoRetries = -1
)

// Config configures a Client. Zero values take the defaults above.
type Config struct {
	BaseURL string // default https://qyapi.weixin.qq.com; "/cgi-bin/..." is appended
	CorpID  string
	// Secret is the Contacts-Sync secret (管理工具 → 通讯录同步) with edit
	// rights; an app secret can read but every write fails with 48002.
	Secret config.Secret

	RatePerMinute int // client-side limit per API, default 6000, must be < 10000
	// RatePerHour caps calls per API in any sliding hour, default 140000
	// (< 150000). A call that would exceed it waits for room if that is
	// within MaxBanWait, else fails with *BanError, as a 45009 would.
	RatePerHour  int
	Concurrency  int           // requests in flight across all APIs, default 8
	Timeout      time.Duration // per HTTP attempt, default 30s
	MaxRetries   int           // retries of -1/6000/45033/5xx/network errors, default 3; NoRetries disables
	RetryWaitMin time.Duration // first backoff, default 500ms (jittered, doubling)
	RetryWaitMax time.Duration // backoff cap, default 8s
	// MaxBanWait is how long a call may wait for a 45009 window to end
	// before failing with *BanError instead; default 70s (one minute window
	// plus jitter).
	MaxBanWait time.Duration
	// AuthFailureHold is how long a configuration error from gettoken (wrong
	// secret, corp id, untrusted IP) is remembered and returned without
	// calling gettoken again: WeCom bans an IP for an hour after repeated
	// wrong-secret calls. Default 5m.
	AuthFailureHold time.Duration

	HTTPClient *http.Client // base client; its Transport is wrapped, not replaced
	Clock      Clock        // nil: the real clock; tests inject a fake one
}

// Clock is the time source for token lifetimes and 45009 windows.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Validate reports every problem in the configuration at once. Zero values
// are valid (they mean "default"); negative durations and counts are not.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		switch {
		case err != nil:
			add("base_url %q is not a URL: %v", c.BaseURL, err)
		case u.Scheme != "https" && u.Scheme != "http":
			add("base_url %q must start with https:// (or http:// for a local emulator)", c.BaseURL)
		case u.Host == "":
			add("base_url %q has no host", c.BaseURL)
		case u.RawQuery != "" || u.Fragment != "":
			add("base_url %q must not have a query or fragment", c.BaseURL)
		}
	}
	if c.CorpID == "" {
		add("corp_id is required (我的企业 → 企业信息 → 企业ID)")
	}
	if c.Secret.Empty() {
		add("secret is required: the Contacts-Sync secret (管理工具 → 通讯录同步) with edit rights")
	}
	if c.RatePerMinute < 0 {
		add("rate_per_minute must not be negative, got %d", c.RatePerMinute)
	} else if c.RatePerMinute >= MaxRatePerMinute {
		add("rate_per_minute %d must stay below WeCom's limit of %d calls per minute per API", c.RatePerMinute, MaxRatePerMinute)
	}
	if c.RatePerHour < 0 {
		add("rate_per_hour must not be negative, got %d", c.RatePerHour)
	} else if c.RatePerHour >= MaxRatePerHour {
		add("rate_per_hour %d must stay below WeCom's limit of %d calls per hour per API", c.RatePerHour, MaxRatePerHour)
	}
	if c.Concurrency < 0 {
		add("concurrency must not be negative, got %d", c.Concurrency)
	}
	if c.MaxRetries < NoRetries {
		add("max_retries must be >= %d, got %d", NoRetries, c.MaxRetries)
	} else if c.MaxRetries > 10 {
		add("max_retries %d is too many: WeCom advises at most 3 retries", c.MaxRetries)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"timeout", c.Timeout}, {"retry_wait_min", c.RetryWaitMin}, {"retry_wait_max", c.RetryWaitMax},
		{"max_ban_wait", c.MaxBanWait}, {"auth_failure_hold", c.AuthFailureHold},
	} {
		if d.v < 0 {
			add("%s must not be negative, got %s", d.name, d.v)
		}
	}
	if c.RetryWaitMin > 0 && c.RetryWaitMax > 0 && c.RetryWaitMin > c.RetryWaitMax {
		add("retry_wait_min %s is above retry_wait_max %s", c.RetryWaitMin, c.RetryWaitMax)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.RatePerMinute == 0 {
		c.RatePerMinute = DefaultRatePerMinute
	}
	if c.RatePerHour == 0 {
		c.RatePerHour = DefaultRatePerHour
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	switch c.MaxRetries {
	case 0:
		c.MaxRetries = DefaultMaxRetries
	case NoRetries:
		c.MaxRetries = 0
	}
	if c.RetryWaitMin == 0 {
		c.RetryWaitMin = DefaultRetryWaitMin
	}
	if c.RetryWaitMax == 0 {
		c.RetryWaitMax = max(DefaultRetryWaitMax, c.RetryWaitMin)
	}
	if c.MaxBanWait == 0 {
		c.MaxBanWait = DefaultMaxBanWait
	}
	if c.AuthFailureHold == 0 {
		c.AuthFailureHold = DefaultAuthHold
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	return c
}
