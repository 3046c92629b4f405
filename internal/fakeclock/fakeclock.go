// Package fakeclock is a clock for tests that the WeCom emulator and the
// client can share: Sleep advances it at once, so a test of import jobs,
// pacing or bans runs in no time and moves WeCom's time by exactly what
// the client waits.
package fakeclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake clock, safe for concurrent use. Concurrent Sleeps add up
// (each advances the clock by its own d), so tests that time anything run
// one call at a time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Sleep advances the clock by d, or returns ctx's error if it is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// Advance moves the clock on by d (nothing for d ≤ 0).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
	}
}
