// Package scheduler decides when the daemon runs a sync: on a cron
// schedule (robfig/cron/v3, with CRON_TZ= and descriptors such as @daily
// and @every 15m), with optional jitter, once at start, and on demand. It
// guarantees that runs never overlap: a tick or trigger that arrives while
// a run is in flight is skipped and counted, never queued, because the next
// run reads the sources afresh anyway. A run that outlives run_timeout has
// its context cancelled, which the engine turns into a stop at the next
// change boundary.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/internal/config"
)

// Config is the `schedule:` block:
//
//	schedule:
//	  cron: "CRON_TZ=Asia/Shanghai 0 2 * * *"   # or @daily, @hourly, @every 15m
//	  jitter: 5m          # start up to this much later than the tick (spreads load)
//	  run_on_start: true  # also run once when the daemon starts
//	  run_timeout: 2h     # cancel a run that takes longer (stops at a change boundary)
//
// A bare string is short for cron: `schedule: "@every 15m"`.
type Config struct {
	Cron       string          `yaml:"cron"`
	Jitter     config.Duration `yaml:"jitter"`
	RunOnStart bool            `yaml:"run_on_start"`
	RunTimeout config.Duration `yaml:"run_timeout"`
}

// DefaultRunTimeout bounds a run when run_timeout is not set: far longer
// than applying a 100k-person reorganisation at WeCom's rate limit.
const DefaultRunTimeout = 4 * time.Hour

// parser accepts the standard 5-field spec, CRON_TZ=/TZ= prefixes and the
// descriptors (@daily, @every 15m).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Decode reads the schedule block strictly (unknown keys are errors with
// their line), applies defaults and validates the cron spec.
func Decode(n *yaml.Node) (Config, error) {
	var c Config
	var decErr error
	if n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		c.Cron = n.Value
	} else {
		decErr = config.DecodeBlock(n, "schedule", &c)
	}
	c = c.withDefaults()
	return c, config.JoinProblems(decErr, atLines(c.Validate(), n))
}

// atLines puts the YAML line of the key each problem names ("schedule.cron:
// …") in front of it, the way DecodeBlock reports unknown keys.
func atLines(err error, n *yaml.Node) error {
	var probs config.Problems
	if !errors.As(err, &probs) || n == nil || n.Kind == 0 {
		return err
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := func(key string) int {
		if n.Kind != yaml.MappingNode {
			return n.Line // the bare-string form is the cron spec
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1].Line
			}
		}
		return n.Line
	}
	out := make(config.Problems, len(probs))
	for i, p := range probs {
		key, _, _ := strings.Cut(strings.TrimPrefix(p, "schedule."), ":")
		out[i] = p
		if l := line(key); l > 0 {
			out[i] = fmt.Sprintf("line %d: %s", l, p)
		}
	}
	return out
}

// withDefaults fills run_timeout when unset.
func (c Config) withDefaults() Config {
	if c.RunTimeout == 0 {
		c.RunTimeout = config.Duration(DefaultRunTimeout)
	}
	return c
}

// MinInterval is the shortest @every interval the daemon accepts without a
// warning: each run reads WeCom's member and department lists and every
// source, and WeCom's rate limits are shared by every app of the corp.
const MinInterval = time.Minute

// Validate checks the spec parses and durations are sane. An @every
// interval must be at least a second: robfig/cron runs "@every 0s", a
// negative interval and anything under a second every second, which is
// never what was meant.
func (c Config) Validate() error {
	var probs config.Problems
	if c.Cron != "" {
		if _, err := parser.Parse(c.Cron); err != nil {
			probs = append(probs, fmt.Sprintf("schedule.cron: %q: %v (want e.g. \"CRON_TZ=Asia/Shanghai 0 2 * * *\", \"@daily\" or \"@every 15m\")", c.Cron, err))
		} else if d, ok := every(c.Cron); ok && d < time.Second {
			probs = append(probs, fmt.Sprintf("schedule.cron: %q: the interval must be at least 1s, and should be %s or more (cron would run this every second); want e.g. \"@every 15m\"", c.Cron, MinInterval))
		}
	}
	if c.Jitter < 0 {
		probs = append(probs, "schedule.jitter: must not be negative")
	}
	if c.RunTimeout < 0 {
		probs = append(probs, "schedule.run_timeout: must not be negative")
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// Warnings are settings that work but are probably not meant; the daemon
// logs them at start and validate prints them. Today: an @every interval
// under MinInterval.
func (c Config) Warnings() []string {
	if d, ok := every(c.Cron); ok && d >= time.Second && d < MinInterval {
		return []string{fmt.Sprintf("schedule.cron: %q runs a sync every %s: each run reads all of WeCom's members and every source; %s or more is usual", c.Cron, d, MinInterval)}
	}
	return nil
}

// every returns the interval of an "@every D" spec (after an optional
// CRON_TZ=/TZ= prefix).
func every(spec string) (time.Duration, bool) {
	f := strings.Fields(spec)
	if len(f) > 0 && (strings.HasPrefix(f[0], "CRON_TZ=") || strings.HasPrefix(f[0], "TZ=")) {
		f = f[1:]
	}
	if len(f) != 2 || f[0] != "@every" {
		return 0, false
	}
	d, err := time.ParseDuration(f[1])
	return d, err == nil
}

// Reasons a run starts, for logs and metrics.
const (
	ReasonSchedule = "schedule"
	ReasonStart    = "start"
	ReasonSignal   = "signal"
	ReasonHTTP     = "http"
)

// ErrBusy is returned by Trigger while a run is in flight.
var ErrBusy = errors.New("a run is already in progress")

// ErrStopped is returned by Trigger once Stop was called.
var ErrStopped = errors.New("the scheduler is stopping")

// RunFunc runs one sync. ctx is cancelled at run_timeout and when Stop's
// deadline passes; Stopping() closes first, when Stop begins.
type RunFunc func(ctx context.Context, reason string)

// Options are the scheduler's collaborators.
type Options struct {
	Log *zap.Logger
	// OnSkip is called when a run is skipped because another is in flight.
	OnSkip func(reason string)
	// Rand returns a jitter delay in [0, max); default uniform random.
	Rand func(max time.Duration) time.Duration
}

// Scheduler runs RunFunc on schedule and on demand, one run at a time.
type Scheduler struct {
	run  RunFunc
	opts Options
	cron *cron.Cron

	mu      sync.Mutex
	cfg     Config
	entry   cron.EntryID
	running bool
	current string // reason of the run in flight
	started time.Time
	stopped bool
	skipped map[string]int
	ctx     context.Context // parent of every run; cancelled when Stop's deadline passes
	cancel  context.CancelFunc
	// stopping is closed when Stop begins: a run finishes the change in
	// flight and returns (engine.Options.Stop).
	stopping chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New builds a scheduler; Start begins ticking.
func New(cfg Config, run RunFunc, opts Options) (*Scheduler, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Rand == nil {
		opts.Rand = func(max time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(max))) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{run: run, opts: opts, cron: cron.New(cron.WithParser(parser)), skipped: map[string]int{}, ctx: ctx, cancel: cancel,
		stopping: make(chan struct{})}
	if err := s.Reconfigure(cfg); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// Reconfigure replaces the schedule (on config reload). A run in flight
// keeps its timeout; the next one uses the new settings.
func (s *Scheduler) Reconfigure(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entry != 0 { // cron entry ids start at 1
		s.cron.Remove(s.entry)
		s.entry = 0
	}
	s.cfg = cfg
	if cfg.Cron != "" {
		id, err := s.cron.AddFunc(cfg.Cron, s.tick)
		if err != nil {
			return fmt.Errorf("schedule.cron: %w", err)
		}
		s.entry = id
	}
	return nil
}

// Start begins ticking and, with run_on_start, starts a run.
func (s *Scheduler) Start() {
	s.cron.Start()
	s.mu.Lock()
	onStart := s.cfg.RunOnStart
	if s.cfg.Cron == "" {
		s.opts.Log.Warn("no schedule.cron configured: runs happen only on SIGUSR1, POST /v1/sync or run_on_start")
	}
	s.mu.Unlock()
	if onStart {
		_ = s.Trigger(ReasonStart)
	}
}

// tick is the cron job: wait the jitter, then run unless one is in flight.
func (s *Scheduler) tick() {
	s.mu.Lock()
	jitter := s.cfg.Jitter.D()
	ctx := s.ctx
	s.mu.Unlock()
	if jitter > 0 {
		d := s.opts.Rand(jitter)
		s.opts.Log.Debug("scheduled run waits its jitter", zap.Duration("delay", d))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.stopping:
			t.Stop()
			return
		}
	}
	_ = s.Trigger(ReasonSchedule)
}

// Trigger starts a run now, in the background, unless one is in flight
// (ErrBusy: skipped and counted) or the scheduler is stopping
// (ErrStopped).
func (s *Scheduler) Trigger(reason string) error {
	_, err := s.TriggerWait(reason)
	return err
}

// TriggerWait is Trigger that also returns a channel closed when the run
// it started has ended.
func (s *Scheduler) TriggerWait(reason string) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, ErrStopped
	}
	if s.running {
		s.skipped[reason]++
		s.opts.Log.Warn("run skipped: the previous run is still in progress",
			zap.String("reason", reason), zap.String("running_since", s.started.Format(time.RFC3339)), zap.String("running_reason", s.current))
		if s.opts.OnSkip != nil {
			s.opts.OnSkip(reason)
		}
		return nil, ErrBusy
	}
	s.running, s.current, s.started = true, reason, time.Now()
	timeout := s.cfg.RunTimeout.D() // read under s.mu: Reconfigure writes it
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		defer cancel()
		defer func() {
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
		}()
		s.run(ctx, reason)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.opts.Log.Warn("run cancelled at schedule.run_timeout", zap.Duration("run_timeout", timeout))
		}
	}()
	return done, nil
}

// Running reports whether a run is in flight and since when.
func (s *Scheduler) Running() (bool, time.Time, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running, s.started, s.current
}

// Next is the next scheduled tick (before jitter); zero when there is no
// schedule or the scheduler is stopped.
func (s *Scheduler) Next() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entry == 0 || s.stopped {
		return time.Time{}
	}
	return s.cron.Entry(s.entry).Next
}

// Skipped counts skipped runs per reason.
func (s *Scheduler) Skipped() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.skipped))
	for k, v := range s.skipped {
		out[k] = v
	}
	return out
}

// Stopping is closed when Stop begins. A run passes it to the engine
// (engine.Options.Stop), which then makes no new change: the WeCom call in
// flight finishes and is journaled, and the run returns.
func (s *Scheduler) Stopping() <-chan struct{} { return s.stopping }

// Stop takes no new work and asks the run in flight to stop at its next
// change boundary (Stopping), waiting for it until ctx ends. Only then is
// the run's context cancelled, aborting a call that hangs. It reports
// whether the run finished in time.
func (s *Scheduler) Stop(ctx context.Context) bool {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.stopOnce.Do(func() { close(s.stopping) }) // first: a tick waiting out its jitter returns at once
	<-s.cron.Stop().Done()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return true
	case <-ctx.Done():
		s.cancel()
		return false
	}
}
