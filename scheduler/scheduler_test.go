package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/internal/config"
)

func node(t *testing.T, y string) *yaml.Node {
	t.Helper()
	f, err := config.Parse([]byte(y), "/etc/orgsync/orgsync.yaml")
	if f == nil {
		t.Fatalf("parse: %v", err)
	}
	return &f.Schedule
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       Config
		err        string
	}{
		{"reads a bare string as the cron spec", "schedule: \"@every 15m\"\n", Config{Cron: "@every 15m", RunTimeout: config.Duration(DefaultRunTimeout)}, ""},
		{"reads the block with a time zone, jitter and timeout",
			"schedule:\n  cron: CRON_TZ=Asia/Shanghai 0 2 * * *\n  jitter: 5m\n  run_on_start: true\n  run_timeout: 1h\n",
			Config{Cron: "CRON_TZ=Asia/Shanghai 0 2 * * *", Jitter: config.Duration(5 * time.Minute), RunOnStart: true, RunTimeout: config.Duration(time.Hour)}, ""},
		{"accepts an absent block (triggers only)", "state: {path: x}\n", Config{RunTimeout: config.Duration(DefaultRunTimeout)}, ""},
		{"rejects an unknown key with its line", "schedule:\n  crn: '@daily'\n", Config{}, "line 2: schedule.crn: unknown key"},
		{"rejects a spec that does not parse", "schedule:\n  cron: every night\n", Config{}, `schedule.cron: "every night"`},
		{"rejects an unknown time zone", "schedule: CRON_TZ=Mars/Olympus 0 2 * * *\n", Config{}, "schedule.cron"},
		{"rejects a negative jitter", "schedule:\n  cron: '@daily'\n  jitter: -1m\n", Config{}, "line 3: schedule.jitter: must not be negative"},
		{"rejects @every 0s, which cron runs every second", "schedule: \"@every 0s\"\n", Config{},
			`line 1: schedule.cron: "@every 0s": the interval must be at least 1s, and should be 1m0s or more (cron would run this every second); want e.g. "@every 15m"`},
		{"rejects a negative interval", "schedule:\n  run_on_start: true\n  cron: '@every -5m'\n", Config{}, `line 3: schedule.cron: "@every -5m": the interval must be at least 1s`},
		{"rejects an interval under a second, also with a time zone", "schedule: CRON_TZ=Asia/Shanghai @every 500ms\n", Config{}, "the interval must be at least 1s"},
		{"accepts a short interval (with a warning)", "schedule: \"@every 2s\"\n", Config{Cron: "@every 2s", RunTimeout: config.Duration(DefaultRunTimeout)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(node(t, tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestWarningsNameShortIntervals(t *testing.T) {
	for spec, want := range map[string]string{
		"@every 2s":  `schedule.cron: "@every 2s" runs a sync every 2s: each run reads all of WeCom's members and every source; 1m0s or more is usual`,
		"@every 15m": "",
		"@daily":     "",
		"0 2 * * *":  "",
	} {
		got := strings.Join(Config{Cron: spec}.Warnings(), "\n")
		if got != want {
			t.Errorf("%s: warnings %q, want %q", spec, got, want)
		}
	}
}

func TestNewRefusesAnIntervalCronWouldRunEverySecond(t *testing.T) {
	if _, err := New(Config{Cron: "@every 0s"}, func(context.Context, string) {}, Options{}); err == nil {
		t.Fatal("accepted @every 0s")
	}
}

func TestNextHonoursCronTZ(t *testing.T) {
	s, err := New(Config{Cron: "CRON_TZ=Asia/Shanghai 0 2 * * *"}, func(context.Context, string) {}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Stop(context.Background())
	next := s.Next()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	if next.IsZero() || next.In(sh).Hour() != 2 || next.In(sh).Minute() != 0 || time.Until(next) > 24*time.Hour {
		t.Fatalf("next = %v (%v in Shanghai)", next, next.In(sh))
	}
}

func TestRunsNeverOverlap(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int32
	var skips []string
	var mu sync.Mutex
	s, err := New(Config{}, func(ctx context.Context, reason string) {
		runs.Add(1)
		<-release
	}, Options{OnSkip: func(r string) { mu.Lock(); skips = append(skips, r); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	done, err := s.TriggerWait(ReasonHTTP)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Trigger(ReasonSignal); !errors.Is(err, ErrBusy) {
		t.Fatalf("second trigger: %v, want ErrBusy", err)
	}
	if running, _, reason := s.Running(); !running || reason != ReasonHTTP {
		t.Fatalf("running = %v %q", running, reason)
	}
	close(release)
	<-done
	if err := s.Trigger(ReasonSignal); err != nil {
		t.Fatalf("trigger after the run ended: %v", err)
	}
	s.Stop(context.Background())
	if runs.Load() != 2 || s.Skipped()[ReasonSignal] != 1 || len(skips) != 1 || skips[0] != ReasonSignal {
		t.Fatalf("runs=%d skipped=%v onSkip=%v", runs.Load(), s.Skipped(), skips)
	}
}

func TestRunTimeoutCancelsTheRun(t *testing.T) {
	got := make(chan error, 1)
	s, err := New(Config{RunTimeout: config.Duration(50 * time.Millisecond)}, func(ctx context.Context, _ string) {
		<-ctx.Done()
		got <- ctx.Err()
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	_ = s.Trigger(ReasonHTTP)
	select {
	case err := <-got:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ctx err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run was not cancelled at run_timeout")
	}
}

func TestStopLetsTheRunFinishItsChangeAndRefusesNewWork(t *testing.T) {
	got := make(chan error, 1)
	var s *Scheduler
	s, _ = New(Config{Cron: "@every 1h"}, func(ctx context.Context, _ string) {
		<-s.Stopping()
		time.Sleep(20 * time.Millisecond) // finishing the change in flight
		got <- ctx.Err()
	}, Options{})
	s.Start()
	_ = s.Trigger(ReasonHTTP)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !s.Stop(ctx) {
		t.Fatal("Stop did not wait for the run")
	}
	if err := <-got; err != nil {
		t.Fatalf("the run's context was cancelled (%v) before it could finish its change", err)
	}
	if err := s.Trigger(ReasonHTTP); !errors.Is(err, ErrStopped) {
		t.Fatalf("trigger after stop: %v", err)
	}
	if !s.Next().IsZero() {
		t.Fatal("a stopped scheduler reports a next run")
	}
}

func TestStopCancelsARunThatIgnoresStoppingAtTheDeadline(t *testing.T) {
	got := make(chan error, 1)
	s, _ := New(Config{Cron: "@every 1h"}, func(ctx context.Context, _ string) {
		<-ctx.Done()
		got <- ctx.Err()
	}, Options{})
	s.Start()
	_ = s.Trigger(ReasonHTTP)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if s.Stop(ctx) {
		t.Fatal("Stop reported a run that ignored Stopping as finished in time")
	}
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run ctx = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run was not cancelled after the deadline")
	}
}

func TestStopReportsARunThatDoesNotEndInTime(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s, _ := New(Config{}, func(ctx context.Context, _ string) { <-release }, Options{})
	_ = s.Trigger(ReasonHTTP)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if s.Stop(ctx) {
		t.Fatal("Stop reported a stuck run as finished")
	}
}

func TestScheduleTicksWithJitterAndRunOnStart(t *testing.T) {
	var mu sync.Mutex
	var reasons []string
	var jitterAsked atomic.Int32
	s, err := New(Config{Cron: "@every 1s", Jitter: config.Duration(time.Minute), RunOnStart: true}, func(ctx context.Context, reason string) {
		mu.Lock()
		reasons = append(reasons, reason)
		mu.Unlock()
	}, Options{Rand: func(max time.Duration) time.Duration {
		jitterAsked.Add(1)
		if max != time.Minute {
			t.Errorf("jitter max = %v", max)
		}
		return 10 * time.Millisecond
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(reasons)
		mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(reasons) < 3 || reasons[0] != ReasonStart || reasons[1] != ReasonSchedule || jitterAsked.Load() < 2 {
		t.Fatalf("reasons = %v, jitter asked %d times", reasons, jitterAsked.Load())
	}
}

func TestStopInterruptsAJitterWait(t *testing.T) {
	var ran atomic.Bool
	s, _ := New(Config{Cron: "@every 1s", Jitter: config.Duration(time.Hour)}, func(context.Context, string) { ran.Store(true) },
		Options{Rand: func(time.Duration) time.Duration { return time.Hour }})
	s.Start()
	time.Sleep(1200 * time.Millisecond) // a tick is now waiting out its hour of jitter
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Stop(ctx)
	if time.Since(start) > 2*time.Second || ran.Load() {
		t.Fatalf("stop took %v, ran=%v", time.Since(start), ran.Load())
	}
}
