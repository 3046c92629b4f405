package client

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
	// LearnedLimits is, per API, the per-minute limit a 45009 showed and
	// the client now paces against (it was configured too high).
	LearnedLimits map[string]int
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
		LearnedLimits:   map[string]int{},
	}
}

// Add adds o's counts to s, field by field, creating s's maps as needed
// (the zero Stats is ready to use). s never shares a map with o, so o may
// be a snapshot another goroutine keeps using.
func (s *Stats) Add(o Stats) {
	s.Calls = addNested(s.Calls, o.Calls)
	s.HTTPStatus = addNested(s.HTTPStatus, o.HTTPStatus)
	s.TransportErrors = addFlat(s.TransportErrors, o.TransportErrors)
	s.Retries = addFlat(s.Retries, o.Retries)
	s.RateLimitWaits = addFlat(s.RateLimitWaits, o.RateLimitWaits)
	s.RateLimitWaitTime += o.RateLimitWaitTime
	s.Bans = addFlat(s.Bans, o.Bans)
	s.BanWaits = addFlat(s.BanWaits, o.BanWaits)
	// A limit is not a count: the lower one holds.
	for api, n := range o.LearnedLimits {
		if s.LearnedLimits == nil {
			s.LearnedLimits = map[string]int{}
		}
		if old, ok := s.LearnedLimits[api]; !ok || n < old {
			s.LearnedLimits[api] = n
		}
	}
	s.TokenFetches += o.TokenFetches
}

func addFlat(dst, src map[string]int) map[string]int {
	if dst == nil && len(src) > 0 {
		dst = make(map[string]int, len(src))
	}
	for k, n := range src {
		dst[k] += n
	}
	return dst
}

func addNested(dst, src map[string]map[int]int) map[string]map[int]int {
	if dst == nil && len(src) > 0 {
		dst = make(map[string]map[int]int, len(src))
	}
	for api, codes := range src {
		inner := dst[api]
		if inner == nil {
			inner = make(map[int]int, len(codes))
			dst[api] = inner
		}
		for code, n := range codes {
			inner[code] += n
		}
	}
	return dst
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
	s.LearnedLimits = maps.Clone(s.LearnedLimits)
	return s
}
