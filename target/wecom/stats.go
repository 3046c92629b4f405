package wecom

import (
	"maps"
	"time"
)

// Stats counts what the client did since New, for metrics and tests.
type Stats struct {
	// Calls counts HTTP attempts answered with HTTP 200, per API and
	// errcode (0 = success). Retried attempts count each time.
	Calls map[string]map[int]int
	// HTTPStatus counts attempts answered with another HTTP status.
	HTTPStatus map[string]map[int]int
	// TransportErrors counts attempts that got no response (connection
	// refused or dropped, timeouts).
	TransportErrors map[string]int
	// Retries counts re-sent attempts per API.
	Retries map[string]int
	// RateLimitWaits counts attempts the client-side limiter delayed;
	// RateLimitWaitTime is the total delay.
	RateLimitWaits    map[string]int
	RateLimitWaitTime time.Duration
	// Bans counts 45009 windows started; BanWaits the calls that waited
	// for a window to end.
	Bans     map[string]int
	BanWaits map[string]int
	// TokenFetches counts successful gettoken calls.
	TokenFetches int
}

func newStats() Stats {
	return Stats{
		Calls:           map[string]map[int]int{},
		HTTPStatus:      map[string]map[int]int{},
		TransportErrors: map[string]int{},
		Retries:         map[string]int{},
		RateLimitWaits:  map[string]int{},
		Bans:            map[string]int{},
		BanWaits:        map[string]int{},
	}
}

func inc(m map[string]map[int]int, api string, code int) {
	inner, ok := m[api]
	if !ok {
		inner = map[int]int{}
		m[api] = inner
	}
	inner[code]++
}

func (c *Client) count(f func(*Stats)) {
	c.statsMu.Lock()
	f(&c.stats)
	c.statsMu.Unlock()
}

// Stats returns a deep copy of the counters.
func (c *Client) Stats() Stats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	s := c.stats
	deep := func(m map[string]map[int]int) map[string]map[int]int {
		out := make(map[string]map[int]int, len(m))
		for k, v := range m {
			out[k] = maps.Clone(v)
		}
		return out
	}
	s.Calls = deep(s.Calls)
	s.HTTPStatus = deep(s.HTTPStatus)
	s.TransportErrors = maps.Clone(s.TransportErrors)
	s.Retries = maps.Clone(s.Retries)
	s.RateLimitWaits = maps.Clone(s.RateLimitWaits)
	s.Bans = maps.Clone(s.Bans)
	s.BanWaits = maps.Clone(s.BanWaits)
	return s
}
