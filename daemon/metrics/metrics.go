// Package metrics exposes the daemon's Prometheus metrics on a registry of
// its own (never the global one, so tests and embedders get exactly these
// series). Run outcomes are recorded from engine reports; WeCom API calls
// are read from the client's counters at scrape time.
package metrics

import (
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	wecom "github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/plan"
)

const ns = "orgsync"

// Change results (the "result" label of orgsync_changes_total).
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
	ResultPending   = "pending"
)

// Every label value a series can take that is known before anything
// happens: each of these series is exported from the start (at 0), so
// rate(), increase() and absent() behave and the help is true of a fresh
// /metrics.
var (
	// ChangeKinds are the plan's ops (the "kind" label).
	ChangeKinds = []string{string(plan.OpDeptCreate), string(plan.OpDeptUpdate), string(plan.OpDeptDelete),
		string(plan.OpUserCreate), string(plan.OpUserUpdate), string(plan.OpUserMove),
		string(plan.OpUserDisable), string(plan.OpUserEnable), string(plan.OpUserDelete)}
	// ChangeResults are the "result" label of orgsync_changes_total.
	ChangeResults = []string{ResultSucceeded, ResultFailed, ResultPending}
	// SkipReasons are what asks for a run (the scheduler's reasons).
	SkipReasons = []string{"schedule", "start", "signal", "http"}
	// ReloadResults are the "result" label of orgsync_config_reloads_total.
	ReloadResults = []string{ReloadApplied, ReloadRejected}
	// Channels are the notification channels.
	Channels = []string{"wecom_robot", "webhook", "mail"}
	// APIs are the WeCom APIs the client calls, the "api" label of the
	// per-API series.
	APIs = []string{"gettoken", "department/create", "department/update", "department/delete", "department/simplelist",
		"department/list", "department/get", "user/create", "user/update", "user/delete", "user/batchdelete", "user/get",
		"user/list", "user/simplelist", "user/list_id", "user/getuserid", "user/get_userid_by_email",
		"media/upload", "batch/replaceuser", "batch/syncuser", "batch/replaceparty", "batch/getresult"}
)

// Reload results.
const (
	ReloadApplied  = "applied"
	ReloadRejected = "rejected"
)

// APILatencyBuckets are the WeCom answer-time buckets, in seconds: WeCom
// answers in tens of milliseconds; seconds mean trouble.
var APILatencyBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics holds every series the daemon exports.
type Metrics struct {
	reg *prometheus.Registry

	buildInfo     *prometheus.GaugeVec // version, revision, goversion
	runInProgress prometheus.Gauge
	reloadOK      prometheus.Gauge
	reloadOKTime  prometheus.Gauge
	apiLatency    *prometheus.HistogramVec // api
	restoredRuns  prometheus.Gauge

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

	// HA (zero without ha.enabled)
	leader         prometheus.Gauge
	leaderChanges  prometheus.Counter
	fencedWrites   prometheus.CounterFunc
	fencedMu       sync.Mutex
	fencedSource   func() int64
	fencedPrevious int64 // counted by stores a reload closed

	wecom *wecomCollector
}

// New registers every series on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
			Help: "Always 1; the labels say which orgsync runs: version, revision (the commit), goversion."}, []string{"version", "revision", "goversion"}),
		runInProgress: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "run_in_progress",
			Help: "1 while a sync run is in flight, 0 otherwise."}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_successful",
			Help: "1 if the last configuration load (start or SIGHUP) was applied, 0 if the last reload was rejected (the previous configuration still runs)."}),
		reloadOKTime: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the configuration in effect was loaded (unix time)."}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "wecom_api_request_duration_seconds",
			Help: "How long WeCom took to answer each HTTP attempt, by API (pacing and queueing excluded; failed attempts included).", Buckets: APILatencyBuckets}, []string{"api"}),
		restoredRuns: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "runs_restored",
			Help: "Runs read back from the state store at start to restore the last-run series (0 on a new store)."}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "runs_total",
			Help: "Sync runs this process made, by result: succeeded, needs_attention, failed, refused, interrupted (stopped by SIGTERM at a change boundary)."}, []string{"result"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "runs_skipped_total",
			Help: "Runs not started because another was in flight, by what asked for them (schedule, start, signal, http)."}, []string{"reason"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "changes_total",
			Help: "Changes by kind (user_create, department_update, ...) and result (succeeded, failed, pending: not attempted this run)."}, []string{"kind", "result"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "held_changes",
			Help: "Changes the last run held back for approval (a source it could not trust, or a kind over its max_* threshold)."}),
		heldByKind: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "held_changes_by_kind",
			Help: "Changes the last run held back, by kind (counted over the first 200 the report lists)."}, []string{"kind"}),
		rejected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "rejected_records",
			Help: "Source records the last run could not map (left out and protected)."}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_run_timestamp_seconds",
			Help: "When the last run finished (unix time), whatever its result; restored from the state store at start."}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_success_timestamp_seconds",
			Help: "When the last run that succeeded or finished needing attention ended (unix time); restored from the state store at start. Alert on time() - this."}),
		lastStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "last_run_status",
			Help: "1 for the last run's status (succeeded, needs_attention, failed, refused, interrupted), 0 for the others; all 0 before the first run."}, []string{"status"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "run_duration_seconds",
			Help: "How long runs took.", Buckets: []float64{1, 5, 15, 60, 300, 900, 3600, 4 * 3600}}),
		sourceRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "source_records",
			Help: "Records the last run read from each source (restored from the state store at start; absent before any run)."}, []string{"source"}),
		notifyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "notification_errors_total",
			Help: "Notifications that could not be delivered, by channel (wecom_robot, webhook, mail)."}, []string{"channel"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total",
			Help: "Configuration reloads (SIGHUP) by result: applied, rejected."}, []string{"result"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "leader",
			Help: "1 while this daemon leads (runs syncs), 0 while it is a standby; 1 without ha.enabled (a lone daemon always leads)."}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "leadership_changes_total",
			Help: "Times this daemon became the leader or stopped being it (HA)."}),
		wecom: newWecomCollector(),
	}
	m.fencedWrites = prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "fenced_writes_total",
		Help: "Writes to the state store refused because this process no longer held the store's epoch (it lost the lease or its lock): each one stopped a run that must not go on."}, m.fencedValue)
	m.nextRun = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "next_run_timestamp_seconds",
		Help: "When the next scheduled run is due (unix time, before jitter); 0 with no schedule."}, m.nextRunValue)
	reg.MustRegister(m.buildInfo, m.runInProgress, m.reloadOK, m.reloadOKTime, m.apiLatency, m.restoredRuns,
		m.runs, m.skipped, m.changes, m.held, m.heldByKind, m.rejected, m.lastRun, m.lastSuccess,
		m.lastStatus, m.nextRun, m.runDuration, m.sourceRecords, m.notifyErrors, m.reloads, m.wecom,
		m.leader, m.leaderChanges, m.fencedWrites,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range engine.Statuses {
		m.runs.WithLabelValues(r)
		m.lastStatus.WithLabelValues(r)
	}
	for _, k := range ChangeKinds {
		m.heldByKind.WithLabelValues(k)
		for _, r := range ChangeResults {
			m.changes.WithLabelValues(k, r)
		}
	}
	for _, r := range SkipReasons {
		m.skipped.WithLabelValues(r)
	}
	for _, r := range ReloadResults {
		m.reloads.WithLabelValues(r)
	}
	for _, c := range Channels {
		m.notifyErrors.WithLabelValues(c)
	}
	for _, a := range APIs {
		m.apiLatency.WithLabelValues(a)
	}
	m.SetBuildInfo("dev", "")
	m.reloadOK.Set(1)
	m.reloadOKTime.Set(float64(time.Now().Unix()))
	m.leader.Set(1)
	return m
}

// SetLeader sets orgsync_leader; a change of value counts in
// orgsync_leadership_changes_total.
func (m *Metrics) SetLeader(leading bool, changed bool) {
	v := 0.0
	if leading {
		v = 1
	}
	m.leader.Set(v)
	if changed {
		m.leaderChanges.Inc()
	}
}

// SetFencedSource points orgsync_fenced_writes_total at a store's count;
// what the previous source counted is kept (a reload reopens the store).
func (m *Metrics) SetFencedSource(f func() int64) {
	m.fencedMu.Lock()
	defer m.fencedMu.Unlock()
	if m.fencedSource != nil {
		m.fencedPrevious += m.fencedSource()
	}
	m.fencedSource = f
}

func (m *Metrics) fencedValue() float64 {
	m.fencedMu.Lock()
	defer m.fencedMu.Unlock()
	n := m.fencedPrevious
	if m.fencedSource != nil {
		n += m.fencedSource()
	}
	return float64(n)
}

// SetBuildInfo sets orgsync_build_info's labels; an empty revision reads
// as "unknown".
func (m *Metrics) SetBuildInfo(version, revision string) {
	if revision == "" {
		revision = "unknown"
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, revision, runtime.Version()).Set(1)
}

// Registry is the registry the series live on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RunStarted marks a run in flight (orgsync_run_in_progress 1) until
// ObserveRun.
func (m *Metrics) RunStarted() { m.runInProgress.Set(1) }

// ObserveAPI records how long one WeCom HTTP attempt took (the client's
// observer).
func (m *Metrics) ObserveAPI(api string, d time.Duration) {
	m.apiLatency.WithLabelValues(api).Observe(d.Seconds())
}

// ObserveRun records a finished run from its report. A nil report (the run
// failed before the state store recorded it) counts as a failed run.
func (m *Metrics) ObserveRun(rep *engine.Report, finished time.Time) {
	m.runInProgress.Set(0)
	status := engine.StatusFailed
	if rep != nil {
		status = rep.Status
	}
	m.runs.WithLabelValues(status).Inc()
	m.setLast(rep, status, finished)
	if isSuccess(status) {
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
		m.changes.WithLabelValues(kind, ResultSucceeded).Add(float64(n))
	}
	for _, f := range rep.Failures {
		m.changes.WithLabelValues(string(f.Op), ResultFailed).Inc()
	}
	for _, p := range rep.Pending {
		m.changes.WithLabelValues(string(p.Op), ResultPending).Inc()
	}
}

// isSuccess: a run that finished needing attention still synced; its
// problem shows in orgsync_last_run_status and orgsync_held_changes.
func isSuccess(status string) bool {
	return status == engine.StatusSucceeded || status == engine.StatusAttention
}

// setLast sets the gauges that describe the last run.
func (m *Metrics) setLast(rep *engine.Report, status string, finished time.Time) {
	m.lastRun.Set(float64(finished.Unix()))
	for _, s := range engine.Statuses {
		v := 0.0
		if s == status {
			v = 1
		}
		m.lastStatus.WithLabelValues(s).Set(v)
	}
	if rep == nil || rep.DryRun {
		return
	}
	m.held.Set(float64(rep.Held))
	for _, k := range ChangeKinds {
		m.heldByKind.WithLabelValues(k).Set(0)
	}
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

// PastRun is a finished run read back from the state store.
type PastRun struct {
	Status   string
	Finished time.Time
	Report   *engine.Report // nil if the store has none
}

// Restore sets the last-run series from runs the state store holds,
// newest first, so a restart or an upgrade does not read as "never ran":
// the last run's status, time, held and rejected counts and source
// records, and the newest success among them. Counters stay at 0: they
// count what this process did.
func (m *Metrics) Restore(runs []PastRun) {
	m.restoredRuns.Set(float64(len(runs)))
	for i, r := range runs {
		if i == 0 {
			m.setLast(r.Report, r.Status, r.Finished)
		}
		if isSuccess(r.Status) {
			m.lastSuccess.Set(float64(r.Finished.Unix()))
			return
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

// Reloaded counts a config reload by result (ReloadApplied or
// ReloadRejected) and sets orgsync_config_last_reload_successful.
func (m *Metrics) Reloaded(result string) {
	m.reloads.WithLabelValues(result).Inc()
	if result == ReloadApplied {
		m.reloadOK.Set(1)
		m.reloadOKTime.Set(float64(time.Now().Unix()))
	} else {
		m.reloadOK.Set(0)
	}
}

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
	calls, waits, waitSeconds, bans, retries, learned *prometheus.Desc

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
		learned: prometheus.NewDesc(ns+"_wecom_rate_limit_learned_per_minute",
			"The per-minute limit a 45009 showed for an API, below the configured rate_per_minute: the client paces at 92% of it since. Absent until WeCom refuses a call with 45009; its presence means rate_per_minute is set too high for this corp.", []string{"api"}, nil),
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
	for _, d := range []*prometheus.Desc{c.calls, c.waits, c.waitSeconds, c.bans, c.retries, c.learned} {
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
	for _, api := range APIs { // the successes of every API, 0 until one is called
		if _, ok := s.Calls[api][0]; !ok {
			counter(c.calls, 0, api, "0")
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
	// The per-API counters have a series for every API the client calls
	// (0 until it happens), and for any other API once it does.
	perAPI := func(d *prometheus.Desc, counts map[string]int) {
		for _, api := range APIs {
			counter(d, float64(counts[api]), api)
		}
		for api, n := range counts {
			if !slices.Contains(APIs, api) {
				counter(d, float64(n), api)
			}
		}
	}
	perAPI(c.waits, s.RateLimitWaits)
	counter(c.waitSeconds, s.RateLimitWaitTime.Seconds())
	perAPI(c.bans, s.Bans)
	perAPI(c.retries, s.Retries)
	for api, n := range s.LearnedLimits {
		ch <- prometheus.MustNewConstMetric(c.learned, prometheus.GaugeValue, float64(n), api)
	}
}
