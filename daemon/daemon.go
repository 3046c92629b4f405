// Package daemon runs orgsync as a service: one engine kept open (it holds
// the state store's lock), runs on a schedule and on demand (SIGUSR1,
// POST /v1/sync) never overlapping, an HTTP server for health, readiness,
// Prometheus metrics, status and run reports, notifications after runs that
// need attention, config reload on SIGHUP, systemd notify/watchdog, and a
// bounded graceful stop on SIGTERM/SIGINT.
//
// Readiness: /readyz answers 200 once the config is loaded and the state
// store is open, and 503 while a reload swaps the engine and once shutdown
// has begun. A failed last run does not make the daemon unready: it is
// still serving, and taking it out of a load balancer or restarting it
// would not help; failures show in /metrics (orgsync_last_run_status,
// orgsync_last_success_timestamp_seconds) and /v1/status, and are notified.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/orgsync/orgsync/daemon/metrics"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/logging"
	"github.com/orgsync/orgsync/notify"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/scheduler"
	"github.com/orgsync/orgsync/state"
)

// DefaultShutdownTimeout bounds how long SIGTERM waits for the run in
// flight to reach a change boundary and journal, and for notifications.
// Keep systemd's TimeoutStopSec above it.
const DefaultShutdownTimeout = 30 * time.Second

// Sentinel errors the command maps to exit codes.
var (
	// ErrConfig wraps config problems at start (exit 2).
	ErrConfig = errors.New("configuration")
	// ErrStopTimeout is returned when the run in flight did not stop
	// within the shutdown timeout (exit 1; the journal lets the next run
	// settle what it left pending).
	ErrStopTimeout = errors.New("the run in flight did not stop in time")
)

// Options configure a daemon.
type Options struct {
	ConfigPath string
	Settings   *Settings // loaded from ConfigPath by the caller
	Log        *zap.Logger
	// LogControls, when set, receive a reloaded log.level and log.pii.
	LogControls     *logging.Controls
	ShutdownTimeout time.Duration
	Version         string
	Revision        string // the commit built, for orgsync_build_info
	// Notify sends a systemd notification; default sd.SdNotify (a no-op
	// when NOTIFY_SOCKET is unset).
	Notify func(state string)
}

// Daemon is a running orgsync service.
type Daemon struct {
	opts    Options
	log     *zap.Logger
	metrics *metrics.Metrics
	host    string
	started time.Time

	runMu sync.Mutex   // held by a run and by an engine swap
	engMu sync.RWMutex // guards eng for readers (status, run reports)
	eng   *engine.Engine

	setMu    sync.RWMutex
	settings *Settings
	notifier *notify.Notifier

	sched    *scheduler.Scheduler
	ha       *election // nil without ha.enabled
	ready    atomic.Bool
	stopping atomic.Bool
	reloadMu sync.Mutex
	bg       sync.WaitGroup // notifications in flight

	lastMu     sync.Mutex
	lastReport *engine.Report
	lastErr    string
	lastOK     time.Time
	statusLine string
}

// Run starts the daemon and blocks until ctx ends or SIGTERM/SIGINT
// arrives, then stops gracefully. It returns nil after a clean stop.
func Run(ctx context.Context, opts Options) error {
	return newDaemon(opts).run(ctx)
}

func newDaemon(opts Options) *Daemon {
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Notify == nil {
		opts.Notify = func(s string) { _, _ = sd.SdNotify(false, s) }
	}
	host, _ := os.Hostname()
	d := &Daemon{opts: opts, log: opts.Log, metrics: metrics.New(), host: host, started: time.Now(), settings: opts.Settings}
	d.notifier = notify.New(opts.Settings.Notify, host)
	d.metrics.SetBuildInfo(cmpOr(opts.Version, "dev"), opts.Revision)
	return d
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// restoredRuns is how many of the newest runs the start reads back to
// restore the last-run series: the last success is found among them (a
// daemon that has failed for longer than that reads as never succeeded,
// which the staleness alert rightly reports).
const restoredRuns = 200

// restoreMetrics sets the last-run series from the state store, so a
// restart does not read as "never ran" (and fire the staleness alert).
//
// A standby's last-run series stand still while the leader runs: a new
// leader restores them again from the store the runs are in.
func (d *Daemon) restoreMetrics(ctx context.Context, st *state.Store) {
	runs, err := st.Runs(ctx, restoredRuns)
	if err != nil {
		d.log.Warn("the last runs could not be read back for the metrics", zap.Error(err))
		return
	}
	var past []metrics.PastRun
	for _, r := range runs {
		if r.FinishedAt.IsZero() || r.Status == "running" {
			continue
		}
		pr := metrics.PastRun{Status: r.Status, Finished: r.FinishedAt}
		if len(past) == 0 && len(r.Report) > 0 {
			var rep engine.Report
			if json.Unmarshal(r.Report, &rep) == nil {
				pr.Report = &rep
			}
		}
		past = append(past, pr)
	}
	d.metrics.Restore(past)
}

// watchClient points the WeCom series and the latency histogram at the
// engine's client.
func (d *Daemon) watchClient(eng *engine.Engine) {
	// The WeCom series are the WeCom directory's: another directory has
	// its own client.
	w, ok := eng.Directory().(interface{ Client() *client.Client })
	if !ok {
		return
	}
	d.metrics.SetClient(w.Client())
	w.Client().SetObserver(d.metrics.ObserveAPI)
}

func (d *Daemon) run(ctx context.Context) error {
	s := d.opts.Settings
	eng, err := engine.Build(s.File, d.log)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if s.File.HA.Enabled {
		if _, err := s.File.HA.Expand(); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		eng.JoinElection()
		d.ha = newElection(s.File.HA.LeaseOrDefault())
	}
	if err := eng.Open(ctx); err != nil {
		return err
	}
	d.eng = eng
	d.watchClient(eng)
	d.metrics.SetFencedSource(eng.Store().FencedWrites)
	d.restoreMetrics(ctx, eng.Store())

	ln, err := net.Listen("tcp", s.Server.Listen)
	if err != nil {
		eng.Close()
		return fmt.Errorf("server.listen: %w", err)
	}
	srv := &http.Server{Handler: d.routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	sched, err := scheduler.New(s.Schedule, d.runOnce, scheduler.Options{Log: d.log.Named("scheduler"), OnSkip: d.metrics.RunSkipped})
	if err != nil {
		eng.Close()
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d.sched = sched
	d.metrics.SetNextRun(sched.Next)
	if d.ha != nil {
		// The first try before the schedule starts: a daemon alone on its
		// database leads at once, and a standby never starts the start run.
		d.metrics.SetLeader(false, false)
		d.startElection(ctx)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	d.ready.Store(true)
	d.log.Info("orgsync daemon started", zap.String("version", d.opts.Version), zap.String("config", d.opts.ConfigPath),
		zap.String("listen", ln.Addr().String()), zap.String("schedule", s.Schedule.Cron), nextRunField(sched.Next()))
	sched.Start()
	d.setStatus("ready; " + d.nextText())
	d.opts.Notify(sd.SdNotifyReady)

	var watchdog <-chan time.Time
	if iv, err := sd.SdWatchdogEnabled(false); err == nil && iv > 0 {
		t := time.NewTicker(iv / 2)
		defer t.Stop()
		watchdog = t.C
		d.log.Info("systemd watchdog enabled", zap.Duration("interval", iv))
	}

loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("http server stopped; shutting down", zap.Error(err))
			}
			break loop
		case <-watchdog:
			d.opts.Notify(sd.SdNotifyWatchdog)
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				go d.reload(ctx)
			case syscall.SIGUSR1:
				if err := sched.Trigger(scheduler.ReasonSignal); err == nil {
					d.log.Info("run requested by SIGUSR1")
				}
			default:
				d.log.Info("stopping: no new runs; the run in flight stops at its next change boundary", zap.String("signal", sig.String()))
				break loop
			}
		}
	}
	return d.shutdown(srv)
}

// shutdown stops taking work, asks the run in flight to stop at its next
// change boundary and waits for it (bounded by ShutdownTimeout, after which
// the run is cancelled), waits for notifications, stops HTTP and closes
// the store.
func (d *Daemon) shutdown(srv *http.Server) error {
	d.stopping.Store(true)
	d.ready.Store(false)
	d.opts.Notify(sd.SdNotifyStopping)
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.ShutdownTimeout)
	defer cancel()
	var stopErr error
	if !d.sched.Stop(ctx) {
		stopErr = fmt.Errorf("%w (%s); the journal lets the next run settle it", ErrStopTimeout, d.opts.ShutdownTimeout)
	}
	bgDone := make(chan struct{})
	go func() { d.bg.Wait(); close(bgDone) }()
	select {
	case <-bgDone:
	case <-ctx.Done():
	}
	shCtx, shCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shCancel()
	_ = srv.Shutdown(shCtx)
	if stopErr != nil {
		return stopErr // the store stays locked by the stuck run until exit
	}
	d.stopElection()
	d.engMu.Lock()
	defer d.engMu.Unlock()
	if err := d.eng.Close(); err != nil {
		return fmt.Errorf("close state store: %w", err)
	}
	d.log.Info("orgsync daemon stopped")
	return nil
}

// runOnce is the scheduler's RunFunc: one engine run, then metrics,
// status, and notifications in the background.
func (d *Daemon) runOnce(ctx context.Context, reason string) {
	if !d.leads() {
		d.log.Debug("standby: the run is the leader's", zap.String("reason", reason))
		return
	}
	d.runMu.Lock()
	ctx, endRun := d.runContext(ctx)
	defer endRun()
	d.engMu.RLock()
	eng := d.eng
	d.engMu.RUnlock()
	d.log.Info("run starting", zap.String("reason", reason))
	d.metrics.RunStarted()
	d.setStatus("running (" + reason + ")")
	rep, err := eng.RunOnce(ctx, engine.Options{Stop: d.sched.Stopping()})
	d.runMu.Unlock()
	if d.ha != nil && errors.Is(err, state.ErrFenced) {
		d.stepDown("a write to the state store was fenced: " + err.Error())
	}
	finished := time.Now()
	d.metrics.ObserveRun(rep, finished)

	d.lastMu.Lock()
	d.lastReport, d.lastErr = rep, ""
	if err != nil {
		d.lastErr = err.Error()
	}
	if rep != nil && rep.Status == engine.StatusSucceeded {
		d.lastOK = finished
	}
	d.lastMu.Unlock()
	d.logRun(rep, err, reason)
	d.setStatus(d.summary(rep, err) + "; " + d.nextText())

	d.setMu.RLock()
	n := d.notifier
	d.setMu.RUnlock()
	if n.Enabled() && len(n.Events(rep)) > 0 {
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			if err := n.Notify(context.Background(), rep, err); err != nil {
				var ce *notify.ChannelError
				for _, e := range flatten(err) {
					if errors.As(e, &ce) {
						d.metrics.NotifyFailed(ce.Channel)
					}
				}
				d.log.Warn("notification not delivered (the run is unaffected)", zap.Error(err))
			}
		}()
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (d *Daemon) logRun(rep *engine.Report, err error, reason string) {
	if rep == nil {
		d.log.Error("run failed before it was recorded", zap.String("reason", reason), zap.Error(err))
		return
	}
	fields := []zap.Field{zap.Int64("run_id", rep.RunID), zap.String("status", rep.Status), zap.String("reason", reason),
		zap.Any("changes", rep.Changes.NonZero()), zap.Int("held", rep.Held), zap.Int("failed", rep.Failed),
		zap.Int("rejected_records", rep.RejectedRecords), zap.Int("api_calls", rep.APICalls),
		zap.Duration("duration", rep.FinishedAt.Sub(rep.StartedAt))}
	switch {
	case rep.Status == engine.StatusSucceeded:
		d.log.Info("run finished", fields...)
	case rep.Status == engine.StatusAttention:
		d.log.Warn("run finished but needs attention", append(fields, zap.Strings("attention", rep.Attention))...)
	case rep.Status == engine.StatusInterrupted:
		d.log.Warn("run stopped at a change boundary; the next run goes on from there", append(fields, zap.Int("left", len(rep.Pending)))...)
	default:
		var refused *plan.RefusedError
		if errors.As(err, &refused) {
			d.log.Error("run refused by the safety guard", append(fields, zap.String("refusal", rep.Refusal))...)
		} else {
			d.log.Error("run failed", append(fields, zap.Error(err))...)
		}
	}
}

// summary is the one-line outcome systemd shows in `systemctl status`.
func (d *Daemon) summary(rep *engine.Report, err error) string {
	if rep == nil {
		return fmt.Sprintf("last run failed: %v", err)
	}
	s := fmt.Sprintf("last run %d %s at %s: %d changes, %d held, %d failed", rep.RunID, rep.Status, rep.FinishedAt.Format("2006-01-02 15:04"), rep.Changes.Total(), rep.Held, rep.Failed)
	if rep.Status == engine.StatusRefused {
		s += " (refused by the guard)"
	}
	return s
}

func (d *Daemon) nextText() string {
	if d.sched == nil {
		return "no schedule"
	}
	next := d.sched.Next()
	if next.IsZero() {
		return "no schedule (SIGUSR1 or POST /v1/sync to run)"
	}
	return "next run " + next.Format(time.RFC3339)
}

func (d *Daemon) setStatus(s string) {
	d.lastMu.Lock()
	d.statusLine = s
	d.lastMu.Unlock()
	d.opts.Notify("STATUS=" + s)
}

// reload re-reads the config file. An invalid config is rejected with
// its reasons and the running one stays; a valid one waits for the run in
// flight, then replaces the engine (closing and reopening the state store,
// whose lock it holds), the schedule, notifications, token and log level.
func (d *Daemon) reload(ctx context.Context) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.stopping.Load() {
		return
	}
	d.log.Info("reloading the configuration", zap.String("config", d.opts.ConfigPath))
	// systemd (Type=notify-reload, or Type=notify with RELOADING=1) holds
	// the reload job until READY=1. The outcome is in STATUS= and ERRNO=
	// ('systemctl status' shows "Error: 22 (Invalid argument)" after a
	// rejection, until a reload is applied), the log and
	// orgsync_config_last_reload_successful.
	d.opts.Notify(reloadingMessage())
	reloadDone := false
	ready := func(status string, errno syscall.Errno) {
		if !reloadDone {
			reloadDone = true
			d.opts.Notify(fmt.Sprintf("%s\nSTATUS=%s\nERRNO=%d", sd.SdNotifyReady, status, errno))
		}
	}
	defer ready("configuration unchanged; "+d.nextText(), 0)
	reject := func(err error) {
		var probs config.Problems
		if !errors.As(err, &probs) {
			probs = config.Problems{err.Error()}
		}
		d.metrics.Reloaded(metrics.ReloadRejected)
		d.log.Error("configuration reload rejected; the running configuration stays in effect", zap.Strings("problems", probs))
		d.setStatus("reload rejected (see the log); " + d.nextText())
		ready("reload rejected (see the log); "+d.nextText(), syscall.EINVAL)
	}
	s, err := Load(d.opts.ConfigPath)
	if err != nil {
		reject(err)
		return
	}
	eng, err := engine.Build(s.File, d.log)
	if err != nil {
		reject(err)
		return
	}
	d.setMu.RLock()
	old := d.settings
	d.setMu.RUnlock()
	if s.Server.Listen != old.Server.Listen {
		d.log.Warn("server.listen changed: the new address takes effect after a restart", zap.String("listening", old.Server.Listen), zap.String("configured", s.Server.Listen))
	}
	if s.Log.Format != old.Log.Format {
		d.log.Warn("log.format changed: takes effect after a restart")
	}
	if running, since, _ := d.sched.Running(); running {
		d.log.Info("the new configuration waits for the run in flight to finish", zap.Time("running_since", since))
		// A run can last hours: the reload job ends now, the swap follows.
		ready("configuration accepted; it takes effect when the run in flight ends", 0)
	}
	d.runMu.Lock()
	defer d.runMu.Unlock()
	if d.stopping.Load() {
		return
	}
	d.ready.Store(false)
	defer d.ready.Store(true)
	if d.ha != nil {
		eng.JoinElection()
		d.resignForReload()
		defer d.electOnce(ctx) // lead again at once if nobody took over
	}
	d.engMu.Lock()
	prev := d.eng
	_ = prev.Close()
	if err := eng.Open(ctx); err != nil {
		if rerr := prev.Open(ctx); rerr != nil {
			d.engMu.Unlock()
			d.log.Error("cannot reopen the previous state store after a failed reload; stopping", zap.Error(rerr))
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			return
		}
		d.engMu.Unlock()
		reject(fmt.Errorf("open: %w", err))
		return
	}
	d.eng = eng
	d.engMu.Unlock()
	d.watchClient(eng)
	d.metrics.SetFencedSource(eng.Store().FencedWrites)
	if err := d.sched.Reconfigure(s.Schedule); err != nil { // validated by Load; kept for safety
		d.log.Error("schedule not changed", zap.Error(err))
	}
	d.setMu.Lock()
	d.settings = s
	d.notifier = notify.New(s.Notify, d.host)
	d.setMu.Unlock()
	if c := d.opts.LogControls; c != nil {
		if lvl, err := logging.ParseLevel(s.Log.Level); err == nil {
			c.Level.SetLevel(lvl)
		}
		c.SetPII(s.Log.PII)
	}
	d.metrics.Reloaded(metrics.ReloadApplied)
	d.log.Info("configuration reloaded", zap.String("schedule", s.Schedule.Cron), nextRunField(d.sched.Next()))
	d.setStatus("configuration reloaded; " + d.nextText())
	ready("configuration reloaded; "+d.nextText(), 0)
}

// store returns the open state store; callers hold engMu.
func (d *Daemon) store() *state.Store {
	if d.eng == nil {
		return nil
	}
	return d.eng.Store()
}

// nextRunField is the next scheduled run for a log line, or nothing when
// there is no schedule (never 0001-01-01).
func nextRunField(next time.Time) zap.Field {
	if next.IsZero() {
		return zap.String("next_run", "none (no schedule)")
	}
	return zap.Time("next_run", next)
}

// reloadingMessage is RELOADING=1 with the CLOCK_MONOTONIC time systemd
// 253+ wants beside it (Type=notify-reload); older systemd ignores it.
func reloadingMessage() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("%s\nMONOTONIC_USEC=%d", sd.SdNotifyReloading, ts.Nano()/1000)
}
