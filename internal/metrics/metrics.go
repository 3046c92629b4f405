// Package metrics exposes the daemon's Prometheus metrics on a registry of
// its own (never the global one, so tests and embedders get exactly these
// series). Run outcomes are recorded from engine reports; WeCom API calls
// are read from the client's counters at scrape time.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/target/wecom"
)

const ns = "orgsync"

// Change results (the "result" label of orgsync_changes_total).
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
	ResultPending   = "pending"
)

// Metrics holds every series the daemon exports.
type Metrics struct {
	reg *prometheus.Registry

	runs          *prometheus.CounterVec // result
	skipped       *prometheus.CounterVec // reason
	changes       *prometheus.CounterVec // kind, result
	held          prometheus.Gauge
	heldByKind    *prometheus.GaugeVec // kind
	rejected      prometheus.Gauge
	lastRun       prometheus.Gauge
	lastSuccess   prometheus.Gauge
	lastStatus    *prometheus.GaugeVec // status
	nextRun       prometheus.GaugeFunc
	nextMu        sync.Mutex
	next          func() time.Time
	runDuration   prometheus.Histogram
	sourceRecords *prometheus.GaugeVec // source
	notifyErrors  *prometheus.CounterVec
	reloads       *prometheus.CounterVec // result

	wecom *wecomCollector
}

// New registers every series on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "runs_total",
			Help: "Sync runs by result: succeeded, failed, refused (by the safety guard)."}, []string{"result"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "runs_skipped_total",
			Help: "Runs not started because another was in flight, by what asked for them (schedule, signal, http, start)."}, []string{"reason"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "changes_total",
			Help: "Changes by kind (user_create, dept_update, ...) and result (succeeded, failed, pending: not attempted this run)."}, []string{"kind", "result"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "held_changes",
			Help: "Changes the last run held back (disables/deletes held because a source failed or read incompletely)."}),
		heldByKind: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "held_changes_by_kind",
			Help: "Changes the last run held back, by kind (counted over the first 200 the report lists)."}, []string{"kind"}),
		rejected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "rejected_records",
			Help: "Source records the last run could not map (left out and protected)."}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_run_timestamp_seconds",
			Help: "When the last run finished (unix time), whatever its result."}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_success_timestamp_seconds",
			Help: "When the last successful run finished (unix time). Alert on time() - this."}),
		lastStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "last_run_status",
			Help: "1 for the last run's status (succeeded, failed, refused), 0 for the others."}, []string{"status"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "run_duration_seconds",
			Help: "How long runs took.", Buckets: []float64{1, 5, 15, 60, 300, 900, 3600, 4 * 3600}}),
		sourceRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "source_records",
			Help: "Records the last run read from each source."}, []string{"source"}),
		notifyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "notification_errors_total",
			Help: "Notifications that could not be delivered, by channel."}, []string{"channel"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total",
			Help: "Configuration reloads (SIGHUP) by result: applied, rejected."}, []string{"result"}),
		wecom: newWecomCollector(),
	}
	m.nextRun = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "next_run_timestamp_seconds",
		Help: "When the next scheduled run is due (unix time, before jitter); 0 with no schedule."}, m.nextRunValue)
	reg.MustRegister(m.runs, m.skipped, m.changes, m.held, m.heldByKind, m.rejected, m.lastRun, m.lastSuccess,
		m.lastStatus, m.nextRun, m.runDuration, m.sourceRecords, m.notifyErrors, m.reloads, m.wecom,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range engine.Statuses {
		m.runs.WithLabelValues(r) // present from the start, so rate() and absent() behave
	}
	return m
}

// Registry is the registry the series live on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRun records a finished run from its report. A nil report (the run
// failed before the state store recorded it) counts as a failed run.
func (m *Metrics) ObserveRun(rep *engine.Report, finished time.Time) {
	status := engine.StatusFailed
	if rep != nil {
		status = rep.Status
	}
	m.runs.WithLabelValues(status).Inc()
	m.lastRun.Set(float64(finished.Unix()))
	for _, s := range engine.Statuses {
		v := 0.0
		if s == status {
			v = 1
		}
		m.lastStatus.WithLabelValues(s).Set(v)
	}
	if status == engine.StatusSucceeded || status == engine.StatusAttention {
		m.lastSuccess.Set(float64(finished.Unix()))
	}
	if rep == nil {
		return
	}
	if !rep.StartedAt.IsZero() && !rep.FinishedAt.IsZero() {
		m.runDuration.Observe(rep.FinishedAt.Sub(rep.StartedAt).Seconds())
	}
	if rep.DryRun {
		return
	}
	for kind, n := range rep.Changes {
		if n > 0 {
			m.changes.WithLabelValues(kind, ResultSucceeded).Add(float64(n))
		} else {
			m.changes.WithLabelValues(kind, ResultSucceeded) // zero series for every kind
		}
	}
	for _, f := range rep.Failures {
		m.changes.WithLabelValues(string(f.Op), ResultFailed).Inc()
	}
	for _, p := range rep.Pending {
		m.changes.WithLabelValues(string(p.Op), ResultPending).Inc()
	}
	m.held.Set(float64(rep.Held))
	m.heldByKind.Reset()
	for _, h := range rep.HeldChanges {
		m.heldByKind.WithLabelValues(string(h.Op)).Inc()
	}
	m.rejected.Set(float64(rep.RejectedRecords))
	if rep.SourceRecords != nil {
		m.sourceRecords.Reset()
		for src, n := range rep.SourceRecords {
			m.sourceRecords.WithLabelValues(src).Set(float64(n))
		}
	}
}

// RunSkipped counts a run not started because another was in flight.
func (m *Metrics) RunSkipped(reason string) { m.skipped.WithLabelValues(reason).Inc() }

// SetNextRun sets where the next scheduled run is read from at scrape
// time (the scheduler's Next); a zero time reads as 0.
func (m *Metrics) SetNextRun(next func() time.Time) {
	m.nextMu.Lock()
	m.next = next
	m.nextMu.Unlock()
}

func (m *Metrics) nextRunValue() float64 {
	m.nextMu.Lock()
	next := m.next
	m.nextMu.Unlock()
	if next == nil {
		return 0
	}
	t := next()
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

// NotifyFailed counts an undeliverable notification.
func (m *Metrics) NotifyFailed(channel string) { m.notifyErrors.WithLabelValues(channel).Inc() }

// Reloaded counts a config reload by result ("applied" or "rejected").
func (m *Metrics) Reloaded(result string) { m.reloads.WithLabelValues(result).Inc() }

// StatsSource is what the WeCom series are read from: the engine's client.
// Stats returns a copy the caller owns (as wecom.Client.Stats does): a
// scrape adds to it.
type StatsSource interface{ Stats() wecom.Stats }

// SetClient points the WeCom series at a new client (a rebuilt engine
// after a reload). The old client's counts are kept, so the counters stay
// monotonic across reloads.
func (m *Metrics) SetClient(c StatsSource) { m.wecom.setClient(c) }

// wecomCollector reads the client's cumulative counters at scrape time.
type wecomCollector struct {
	calls, waits, waitSeconds, bans, retries *prometheus.Desc

	mu      sync.Mutex
	client  StatsSource
	retired wecom.Stats // sums of clients replaced by reloads
}

func newWecomCollector() *wecomCollector {
	return &wecomCollector{
		calls: prometheus.NewDesc(ns+"_wecom_api_calls_total",
			"WeCom API calls by API and errcode (0 = success; http_NNN = another HTTP status; transport = no answer). Each retry counts.",
			[]string{"api", "errcode"}, nil),
		waits: prometheus.NewDesc(ns+"_wecom_rate_limit_waits_total",
			"Calls the client-side rate limiter delayed, per API (pacing below WeCom's 10,000/min).", []string{"api"}, nil),
		waitSeconds: prometheus.NewDesc(ns+"_wecom_rate_limit_wait_seconds_total",
			"Total time calls waited for the client-side rate limiter.", nil, nil),
		bans: prometheus.NewDesc(ns+"_wecom_rate_limit_bans_total",
			"45009 refusals from WeCom that paused an API until its window ended.", []string{"api"}, nil),
		retries: prometheus.NewDesc(ns+"_wecom_retries_total",
			"Re-sent attempts per API (-1, 6000, 45033, 5xx, dropped connections).", []string{"api"}, nil),
	}
}

func (c *wecomCollector) setClient(s StatsSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil && c.client != s {
		c.retired.Add(c.client.Stats())
	}
	c.client = s
}

func (c *wecomCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.calls, c.waits, c.waitSeconds, c.bans, c.retries} {
		ch <- d
	}
}

func (c *wecomCollector) Collect(ch chan<- prometheus.Metric) {
	// s is this scrape's own copy: setClient adds to retired in place.
	var s wecom.Stats
	c.mu.Lock()
	if c.client != nil {
		s = c.client.Stats()
	}
	s.Add(c.retired)
	c.mu.Unlock()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for api, codes := range s.Calls {
		for code, n := range codes {
			counter(c.calls, float64(n), api, strconv.Itoa(code))
		}
	}
	for api, codes := range s.HTTPStatus {
		for code, n := range codes {
			counter(c.calls, float64(n), api, "http_"+strconv.Itoa(code))
		}
	}
	for api, n := range s.TransportErrors {
		counter(c.calls, float64(n), api, "transport")
	}
	for api, n := range s.RateLimitWaits {
		counter(c.waits, float64(n), api)
	}
	counter(c.waitSeconds, s.RateLimitWaitTime.Seconds())
	for api, n := range s.Bans {
		counter(c.bans, float64(n), api)
	}
	for api, n := range s.Retries {
		counter(c.retries, float64(n), api)
	}
}
