package daemon_test

// These tests run `orgsync daemon` as a real process (built once in
// TestMain) against an in-process WeCom emulator and a CSV source, and
// talk to it the way systemd, Prometheus and an admin do: signals, HTTP,
// the sd_notify socket.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/orgsync/orgsync/internal/testservers"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/orgsync/orgsync/daemon"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/notify"
)

var bin string

func TestMain(m *testing.M) {
	os.Exit(testservers.RunWithOrgsync(m.Run, &bin))
}

const (
	corpID   = "wwdaemontest0001"
	secret   = "daemon-test-secret"
	apiToken = "test-api-token-1"
)

// env is one deployment: an emulator, an HR export, a config.
type env struct {
	t       *testing.T
	dir     string
	emu     *emulator.Server
	url     string
	latency atomic.Int64 // ns added to every WeCom call
	listen  string
	people  int
	// config blocks
	schedule, notify, extra string
	concurrency             int
	// state is the state: block (default the SQLite file in dir); cfgName
	// the config file's name in dir (default orgsync.yaml): daemons that
	// share one database each have their own (ha_process_test.go).
	state, cfgName string
}

func newEnv(t *testing.T, people int) *env {
	t.Helper()
	emu, err := emulator.New(emulator.Options{CorpID: corpID, RestrictedReads: true,
		Secrets: []emulator.SecretSpec{{Secret: secret, Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: t.TempDir(), emu: emu, people: people, concurrency: 4}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(e.latency.Load()); d > 0 && strings.HasPrefix(r.URL.Path, "/cgi-bin/user/") {
			time.Sleep(d)
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.listen = freeAddr(t)
	e.writeData()
	return e
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (e *env) writeData() {
	var b strings.Builder
	b.WriteString("工号,姓名,部门编码,手机,状态\n")
	for i := 1; i <= e.people; i++ {
		fmt.Fprintf(&b, "E%03d,员工%d,%s,1380013%04d,在职\n", i, i, []string{"D2", "D3"}[i%2], i)
	}
	must(e.t, os.WriteFile(filepath.Join(e.dir, "employees.csv"), []byte(b.String()), 0o644))
	must(e.t, os.WriteFile(filepath.Join(e.dir, "departments.csv"), []byte("部门编码,部门名称,上级部门编码,排序\nD1,总部,,100\nD2,研发中心,D1,50\nD3,销售部,D1,40\n"), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) configText() string {
	return fmt.Sprintf(`sources:
  - name: hr
    type: csv
    config: {path: %[1]s/employees.csv, settle: 0s}
mapping:
  key: 工号
  user:
    userid: lower(工号)
    name: 姓名
    department: 部门编码
    mobile: 手机
    enabled: 状态 != "离职"
  departments:
    from: table
    table: {file: %[1]s/departments.csv, code: 部门编码, name: 部门名称, parent: 上级部门编码, order: int(排序)}
target:
  config:
    base_url: %[2]s
    corp_id: %[3]s
    secret: %[4]s
    concurrency: %[8]d
policy:
  max_disables: 50%%
%[9]s
server:
  listen: %[5]s
  token: %[6]s
log:
  level: info
%[7]s
`, e.dir, e.url, corpID, secret, e.listen, apiToken, e.schedule+"\n"+e.notify+"\n"+e.extra, e.concurrency, e.stateBlock())
}

func (e *env) stateBlock() string {
	if e.state != "" {
		return e.state
	}
	return "state: {path: " + e.dir + "/state.db}"
}

func (e *env) cfgPath() string {
	if e.cfgName != "" {
		return filepath.Join(e.dir, e.cfgName)
	}
	return filepath.Join(e.dir, "orgsync.yaml")
}

func (e *env) writeConfig() {
	must(e.t, os.WriteFile(e.cfgPath(), []byte(e.configText()), 0o644))
}

func (e *env) users() int { return len(e.emu.State().Users) }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running daemon.
type proc struct {
	t      *testing.T
	e      *env
	cmd    *exec.Cmd
	logs   *syncBuffer
	done   chan struct{}
	err    error
	notify *notifySocket
}

// notifySocket plays systemd's NOTIFY_SOCKET.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	// unix socket paths are short; t.TempDir() can be too long
	dir, err := os.MkdirTemp("", "sd")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	ns := &notifySocket{path: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			ns.mu.Lock()
			ns.msgs = append(ns.msgs, string(buf[:n]))
			ns.mu.Unlock()
		}
	}()
	return ns
}

func (n *notifySocket) all() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.msgs, "\n")
}

func (e *env) start(extraEnv ...string) *proc {
	e.t.Helper()
	// WATCHDOG_PID would have to be the daemon's pid, unknown before
	// Start; without it go-systemd trusts WATCHDOG_USEC alone.
	return e.startWith(e.t, nil, []string{"--log-format", "json"}, append(extraEnv, "WATCHDOG_USEC=400000")...)
}

func (p *proc) waitFor(what string, d time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("daemon exited (%v) while waiting for %s", p.err, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.t.Fatalf("timed out after %v waiting for %s", d, what)
}

func (p *proc) signal(s syscall.Signal) { must(p.t, p.cmd.Process.Signal(s)) }

// stop sends SIGTERM and returns how long the daemon took to exit; it
// fails the test unless the exit status is 0.
func (p *proc) stop(within time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("daemon did not exit within %v of SIGTERM", within)
	}
	if p.err != nil {
		p.t.Fatalf("daemon exit: %v", p.err)
	}
	return time.Since(start)
}

func (p *proc) get(path string, auth bool) (int, []byte) {
	p.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.e.listen+path, nil)
	if auth {
		req.Header.Set("Authorization", "Bearer "+apiToken)
	}
	resp, err := http.DefaultClient.Do(req)
	must(p.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (p *proc) postSync(token string) (int, daemon.SyncResponse) {
	p.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+p.e.listen+"/v1/sync", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	must(p.t, err)
	defer resp.Body.Close()
	var ans daemon.SyncResponse
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	return resp.StatusCode, ans
}

func (p *proc) status() daemon.Status {
	p.t.Helper()
	code, b := p.get("/v1/status", true)
	if code != 200 {
		p.t.Fatalf("/v1/status: %d %s", code, b)
	}
	var st daemon.Status
	must(p.t, json.Unmarshal(b, &st))
	return st
}

func (p *proc) finishedRuns() []daemon.RunSummary {
	var out []daemon.RunSummary
	for _, r := range p.status().LastRuns {
		if r.Status != "running" {
			out = append(out, r)
		}
	}
	return out
}

// metrics scrapes /metrics and parses the exposition format.
func (p *proc) metrics() map[string]*dto.MetricFamily {
	p.t.Helper()
	code, b := p.get("/metrics", false)
	if code != 200 {
		p.t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	must(p.t, err)
	return mfs
}

// series is the first series of family name with the given labels (a
// subset match), or nil.
func series(mfs map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is the value of the series of family name with the given labels
// (a subset match); -1 if absent.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := series(mfs, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

func TestScheduledRunsMetricsStatusAndNotifications(t *testing.T) {
	e := newEnv(t, 20)
	var mu sync.Mutex
	var hooks []notify.WebhookPayload
	var robotMsgs []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p notify.WebhookPayload
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		hooks = append(hooks, p)
		mu.Unlock()
	}))
	defer hook.Close()
	robot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Markdown struct{ Content string } `json:"markdown"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		if r.URL.Query().Get("key") == "robot-key" {
			robotMsgs = append(robotMsgs, m.Markdown.Content)
		}
		mu.Unlock()
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	defer robot.Close()
	e.schedule = "schedule:\n  cron: '@every 2s'\n"
	e.notify = fmt.Sprintf("notify:\n  on: [failed, refused, held, changed]\n  timeout: 5s\n  webhook: {url: '%s'}\n  wecom_robot: {key: robot-key, url: '%s/cgi-bin/webhook/send'}\n", hook.URL, robot.URL)
	p := e.start()

	if code, _ := p.get("/healthz", false); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	p.waitFor("two scheduled runs", 12*time.Second, func() bool { return len(p.finishedRuns()) >= 2 })
	runs := p.finishedRuns()
	first, second := runs[len(runs)-1], runs[len(runs)-2]
	if first.Status != engine.StatusSucceeded || first.Changes["user_create"] != 20 || second.Status != engine.StatusSucceeded || len(second.Changes) != 0 {
		t.Fatalf("runs: first %+v, second %+v", first, second)
	}
	if n := e.users(); n != 20 {
		t.Fatalf("WeCom has %d members, want 20", n)
	}
	st := p.status()
	if st.Schedule != "@every 2s" || st.NextRun == nil || st.LastSuccess == nil || !st.Ready {
		t.Fatalf("status: %+v", st)
	}

	t.Run("exposes run, change, API and source metrics", func(t *testing.T) {
		mfs := p.metrics()
		now := float64(time.Now().Unix())
		for _, c := range []struct {
			name   string
			labels []string
			check  func(float64) bool
			want   string
		}{
			{"orgsync_runs_total", []string{"result", "succeeded"}, func(v float64) bool { return v >= 2 }, ">= 2"},
			{"orgsync_runs_total", []string{"result", "failed"}, func(v float64) bool { return v == 0 }, "0"},
			{"orgsync_changes_total", []string{"kind", "user_create", "result", "succeeded"}, func(v float64) bool { return v == 20 }, "20"},
			{"orgsync_wecom_api_calls_total", []string{"api", "user/create", "errcode", "0"}, func(v float64) bool { return v == 20 }, "20"},
			{"orgsync_wecom_api_calls_total", []string{"api", "user/list_id", "errcode", "0"}, func(v float64) bool { return v >= 2 }, ">= 2"},
			{"orgsync_source_records", []string{"source", "hr"}, func(v float64) bool { return v == 20 }, "20"},
			{"orgsync_held_changes", nil, func(v float64) bool { return v == 0 }, "0"},
			{"orgsync_last_success_timestamp_seconds", nil, func(v float64) bool { return v > now-30 && v <= now+1 }, "recent"},
			{"orgsync_last_run_timestamp_seconds", nil, func(v float64) bool { return v > now-30 }, "recent"},
			{"orgsync_next_run_timestamp_seconds", nil, func(v float64) bool { return v >= now-1 && v <= now+3 }, "within 2s"},
			{"orgsync_wecom_rate_limit_waits_total", nil, func(v float64) bool { return v >= -1 }, "parsed"},
		} {
			if v := value(mfs, c.name, c.labels...); !c.check(v) {
				t.Errorf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
			}
		}
	})

	t.Run("serves the stored report of a run", func(t *testing.T) {
		code, b := p.get(fmt.Sprintf("/v1/runs/%d", first.ID), true)
		var rep engine.Report
		if code != 200 || json.Unmarshal(b, &rep) != nil || rep.RunID != first.ID || rep.Changes["user_create"] != 20 {
			t.Fatalf("/v1/runs/%d: %d %s", first.ID, code, b)
		}
		if code, _ := p.get("/v1/runs/99999", true); code != 404 {
			t.Fatalf("unknown run: %d", code)
		}
		if code, _ := p.get("/v1/runs/1", false); code != 401 {
			t.Fatalf("run report without the token: %d, want 401", code)
		}
	})

	t.Run("notifies the webhook and the robot about the run that changed things", func(t *testing.T) {
		p.waitFor("notifications", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(hooks) >= 1 && len(robotMsgs) >= 1 })
		mu.Lock()
		defer mu.Unlock()
		h := hooks[0]
		if h.Event != "orgsync.run" || strings.Join(h.Events, ",") != "changed" || h.Report == nil || h.Report.Changes["user_create"] != 20 {
			t.Fatalf("webhook payload: %+v", h)
		}
		if len(hooks) != 1 {
			t.Errorf("quiet runs were notified too: %d webhook calls", len(hooks))
		}
		if !strings.Contains(robotMsgs[0], "user_create 20") || !strings.Contains(robotMsgs[0], "succeeded") {
			t.Errorf("robot markdown: %s", robotMsgs[0])
		}
	})

	t.Run("tells systemd it is ready, its status and that it is alive", func(t *testing.T) {
		p.waitFor("a watchdog ping", 3*time.Second, func() bool { return strings.Contains(p.notify.all(), "WATCHDOG=1") })
		msgs := p.notify.all()
		for _, want := range []string{"READY=1", "STATUS=last run", "succeeded"} {
			if !strings.Contains(msgs, want) {
				t.Errorf("sd_notify messages lack %q:\n%s", want, msgs)
			}
		}
	})

	t.Run("masks personal data in its logs", func(t *testing.T) {
		if strings.Contains(p.logs.String(), "13800130001") {
			t.Fatal("a mobile number appears in the daemon's log")
		}
	})

	if d := p.stop(10 * time.Second); d > 5*time.Second {
		t.Errorf("idle daemon took %v to stop", d)
	}
	if !strings.Contains(p.notify.all(), "STOPPING=1") {
		t.Error("no STOPPING=1 sent")
	}
}

func TestTriggersAreAuthenticatedAndNeverOverlap(t *testing.T) {
	e := newEnv(t, 16)
	e.concurrency = 1
	e.latency.Store(int64(150 * time.Millisecond)) // a run takes ≥ 2.4s
	p := e.start()

	if code, _ := p.postSync(""); code != http.StatusUnauthorized {
		t.Fatalf("POST /v1/sync without a token = %d, want 401", code)
	}
	if code, _ := p.postSync("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("POST /v1/sync with a wrong token = %d, want 401", code)
	}
	if code, ans := p.postSync(apiToken); code != http.StatusAccepted || !ans.Started {
		t.Fatalf("POST /v1/sync = %d %+v", code, ans)
	}
	p.waitFor("the run to be applying", 5*time.Second, func() bool { return e.users() >= 1 })
	if code, ans := p.postSync(apiToken); code != http.StatusConflict || !strings.Contains(ans.Error, "already in progress") {
		t.Fatalf("overlapping POST /v1/sync = %d %+v", code, ans)
	}
	p.signal(syscall.SIGUSR1) // skipped too
	p.waitFor("the skipped signal to be counted", 3*time.Second, func() bool {
		return value(p.metrics(), "orgsync_runs_skipped_total", "reason", "signal") == 1
	})
	if st := p.status(); st.Running == nil || st.Running.Reason != "http" {
		t.Fatalf("status while running: %+v", st.Running)
	}
	p.waitFor("the run to end", 15*time.Second, func() bool { return len(p.finishedRuns()) == 1 })
	mfs := p.metrics()
	if v := value(mfs, "orgsync_runs_skipped_total", "reason", "http"); v != 1 {
		t.Errorf("skipped http runs = %v", v)
	}
	if v := value(mfs, "orgsync_runs_total", "result", "succeeded"); v != 1 {
		t.Errorf("succeeded runs = %v (overlapping runs happened?)", v)
	}
	if e.users() != 16 {
		t.Fatalf("WeCom has %d members", e.users())
	}

	t.Run("SIGUSR1 runs now when idle", func(t *testing.T) {
		e.latency.Store(0)
		p.signal(syscall.SIGUSR1)
		p.waitFor("the signalled run", 10*time.Second, func() bool { return len(p.finishedRuns()) == 2 })
	})

	t.Run("orgsync trigger --wait runs and reports like sync", func(t *testing.T) {
		out, err := exec.Command(bin, "trigger", "-c", e.cfgPath(), "--wait", "--output", "json").Output()
		if err != nil {
			t.Fatalf("trigger: %v\n%s", err, out)
		}
		var rep engine.Report
		must(t, json.Unmarshal(out, &rep))
		if rep.Status != engine.StatusSucceeded || rep.RunID == 0 || rep.Changes["user_create"] != 0 {
			t.Fatalf("report: %+v", rep)
		}
	})

	t.Run("orgsync trigger fails clearly when the daemon is not there", func(t *testing.T) {
		p.stop(10 * time.Second)
		out, err := exec.Command(bin, "trigger", "-c", e.cfgPath()).CombinedOutput()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "is 'orgsync daemon' running?") {
			t.Fatalf("trigger without a daemon: %v\n%s", err, out)
		}
	})
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

func TestSighupReloadsAGoodConfigAndRejectsABadOne(t *testing.T) {
	e := newEnv(t, 5)
	p := e.start()
	if st := p.status(); st.Schedule != "" || st.NextRun != nil {
		t.Fatalf("status before reload: %+v", st)
	}

	t.Run("rejects a bad config with its reasons and keeps running", func(t *testing.T) {
		e.schedule = "schedule:\n  cron: 'every night'\n  jiter: 5m\n"
		e.writeConfig()
		p.signal(syscall.SIGHUP)
		p.waitFor("the rejection", 5*time.Second, func() bool {
			return value(p.metrics(), "orgsync_config_reloads_total", "result", "rejected") == 1
		})
		logs := p.logs.String()
		for _, want := range []string{"configuration reload rejected", "schedule.jiter: unknown key", `schedule.cron: \"every night\"`} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q", want)
			}
		}
		if code, _ := p.get("/readyz", false); code != 200 {
			t.Fatalf("/readyz after a rejected reload = %d", code)
		}
		if code, ans := p.postSync(apiToken); code != http.StatusAccepted {
			t.Fatalf("the old config no longer runs: %d %+v", code, ans)
		}
		p.waitFor("a run with the old config", 10*time.Second, func() bool { return len(p.finishedRuns()) == 1 })
	})

	t.Run("applies a good config: new schedule, new token, reopened state", func(t *testing.T) {
		e.schedule = "schedule:\n  cron: 'CRON_TZ=Asia/Shanghai 0 2 * * *'\n"
		e.extra = "" // token stays; the state store is reopened by the new engine
		e.people = 7
		e.writeData()
		e.writeConfig()
		p.signal(syscall.SIGHUP)
		p.waitFor("the reload", 5*time.Second, func() bool {
			return value(p.metrics(), "orgsync_config_reloads_total", "result", "applied") == 1
		})
		st := p.status()
		if st.Schedule != "CRON_TZ=Asia/Shanghai 0 2 * * *" || st.NextRun == nil {
			t.Fatalf("status after reload: %+v", st)
		}
		sh, _ := time.LoadLocation("Asia/Shanghai")
		if st.NextRun.In(sh).Hour() != 2 {
			t.Fatalf("next run %v is not 02:00 in Shanghai", st.NextRun.In(sh))
		}
		if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
			t.Fatalf("trigger after reload: %d", code)
		}
		p.waitFor("a run with the new engine", 10*time.Second, func() bool { return len(p.finishedRuns()) == 2 })
		if r := p.finishedRuns()[0]; r.Status != engine.StatusSucceeded || r.Changes["user_create"] != 2 {
			t.Fatalf("run after reload: %+v", r)
		}
		if v := value(p.metrics(), "orgsync_wecom_api_calls_total", "api", "user/create", "errcode", "0"); v != 7 {
			t.Fatalf("user/create calls across the reload = %v, want 7 (counters must survive the engine swap)", v)
		}
	})

	t.Run("a reload during a run waits for it instead of disturbing it", func(t *testing.T) {
		e.latency.Store(int64(100 * time.Millisecond))
		e.people = 31 // 24 creates, 4 at a time, 100ms each: the run lasts well over half a second
		e.writeData()
		if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
			t.Fatalf("trigger: %d", code)
		}
		p.waitFor("the apply to be under way", 5*time.Second, func() bool { return e.users() > 7 })
		e.schedule = "schedule: '@daily'\n"
		e.writeConfig()
		p.signal(syscall.SIGHUP)
		p.waitFor("the deferred reload", 15*time.Second, func() bool {
			return value(p.metrics(), "orgsync_config_reloads_total", "result", "applied") == 2
		})
		runs := p.finishedRuns()
		if len(runs) != 3 || runs[0].Status != engine.StatusSucceeded || runs[0].Changes["user_create"] != 24 {
			t.Fatalf("the run under the reload: %+v", runs)
		}
		logs := p.logs.String()
		waits := strings.LastIndex(logs, "the new configuration waits for the run in flight")
		finished := strings.LastIndex(logs, `"msg":"run finished"`)
		reloaded := strings.LastIndex(logs, `"msg":"configuration reloaded"`)
		if waits < 0 || !(waits < finished && finished < reloaded) {
			t.Fatalf("want wait < run finished < reloaded in the log; got %d, %d, %d", waits, finished, reloaded)
		}
		if st := p.status(); st.Schedule != "@daily" {
			t.Fatalf("schedule after the deferred reload: %q", st.Schedule)
		}
	})
	p.stop(10 * time.Second)
}

func TestSigtermDuringApplyStopsPromptlyAndARestartConverges(t *testing.T) {
	e := newEnv(t, 40)
	e.concurrency = 1
	e.latency.Store(int64(100 * time.Millisecond)) // ≥ 4s of creates
	p := e.start()
	if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	p.waitFor("the apply to be under way", 10*time.Second, func() bool { return e.users() >= 3 })
	took := p.stop(8 * time.Second)
	if took > 3*time.Second {
		t.Errorf("SIGTERM took %v during an apply; want the run to stop at the next change boundary", took)
	}
	created := e.users()
	if created >= 40 {
		t.Fatalf("the apply was not interrupted (%d members)", created)
	}
	logs := p.logs.String()
	for _, want := range []string{"stopping: no new runs", `"msg":"run stopped at a change boundary; the next run goes on from there"`, `"status":"interrupted"`, "orgsync daemon stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}

	// The restart picks up where the interrupted run stopped.
	e.latency.Store(0)
	e.schedule = "schedule:\n  run_on_start: true\n"
	p2 := e.start()
	p2.waitFor("the converging run", 15*time.Second, func() bool { return len(p2.finishedRuns()) == 2 })
	runs := p2.finishedRuns()
	if runs[1].Status != engine.StatusInterrupted || runs[0].Status != engine.StatusSucceeded {
		t.Fatalf("runs: %+v", runs)
	}
	if n := e.users(); n != 40 {
		t.Fatalf("WeCom has %d members after the restart, want 40", n)
	}
	// The call in flight at SIGTERM was let finish and was journaled
	// before exit, so the restart has nothing left pending to settle and
	// creates exactly the members still missing.
	if runs[0].Settled != 0 {
		t.Errorf("the restart settled %d journal entries left pending: a call in flight was cut off", runs[0].Settled)
	}
	if got := runs[0].Changes["user_create"]; got != 40-created {
		t.Errorf("the restart made %d creates for %d missing members", got, 40-created)
	}
	p2.stop(10 * time.Second)
	rep := runAgain(t, e)
	if rep.Changes["user_create"] != 0 || rep.Status != engine.StatusSucceeded {
		t.Fatalf("a third run still had work: %+v", rep)
	}
}

// runAgain runs `orgsync sync` once, as an admin would after stopping the
// daemon, and returns its report.
func runAgain(t *testing.T, e *env) engine.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "sync", "-c", e.cfgPath(), "--output", "json", "--log-level", "error").Output()
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	var rep engine.Report
	must(t, json.Unmarshal(out, &rep))
	return rep
}

func TestStartFailuresExitWithTheDocumentedCodes(t *testing.T) {
	e := newEnv(t, 3)
	exitCode := func(t *testing.T, timeout time.Duration) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "daemon", "-c", e.cfgPath(), "--log-format", "json").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("daemon did not fail: %v\n%s", err, out)
		return 0, ""
	}
	t.Run("a config error exits 2 with every problem", func(t *testing.T) {
		e.schedule = "schedule: {cron: 'every night', jiter: 1m}\nnotify: {on: [always]}\n"
		e.writeConfig()
		code, out := exitCode(t, 10*time.Second)
		if code != 2 || !strings.Contains(out, `schedule.cron: "every night"`) || !strings.Contains(out, "schedule.jiter: unknown key") || !strings.Contains(out, `notify.on: "always"`) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("a state store held by another daemon exits 1", func(t *testing.T) {
		e.schedule = ""
		p := e.start()
		e.listen = freeAddr(t) // the second daemon must get as far as the store
		e.writeConfig()
		code, out := exitCode(t, 10*time.Second)
		if code != 1 || !strings.Contains(out, "in use by another orgsync process") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		p.stop(10 * time.Second)
	})
}
