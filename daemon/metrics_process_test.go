package daemon_test

import (
	"net/http"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/orgsync/orgsync/engine"
)

// histogramCount is the sample count of a histogram series (a subset
// label match); -1 if absent.
func histogramCount(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	if m := series(mfs, name, labels...); m != nil && m.Histogram != nil {
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

func TestMetricsAreHonestFromTheStartAndSurviveARestart(t *testing.T) {
	e := newEnv(t, 10)
	e.concurrency = 1
	p := e.start()

	t.Run("the startup line names no zero next_run", func(t *testing.T) {
		if logs := p.logs.String(); strings.Contains(logs, "0001-01-01") || !strings.Contains(logs, `"next_run":"none (no schedule)"`) {
			t.Fatalf("startup log:\n%s", logs)
		}
	})

	fresh := p.metrics()
	t.Run("a fresh /metrics has every series the help lists, and the help every one it has", func(t *testing.T) {
		help, err := exec.Command(bin, "daemon", "--help").Output()
		must(t, err)
		documented := map[string]bool{}
		for _, m := range regexp.MustCompile(`orgsync_[a-z_]+`).FindAllString(string(help), -1) {
			documented[m] = true
		}
		appearWithFirstRun := []string{"orgsync_source_records", "orgsync_wecom_rate_limit_learned_per_minute"}
		var missing, undocumented []string
		for name := range documented {
			if fresh[name] == nil && !slices.Contains(appearWithFirstRun, name) {
				missing = append(missing, name)
			}
		}
		for name := range fresh {
			if strings.HasPrefix(name, "orgsync_") && !documented[name] {
				undocumented = append(undocumented, name)
			}
		}
		sort.Strings(missing)
		sort.Strings(undocumented)
		if len(missing)+len(undocumented) > 0 {
			t.Fatalf("in the help but not in a fresh /metrics: %v\nin /metrics but not in the help: %v", missing, undocumented)
		}
	})

	t.Run("every label series exists before anything happens", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"orgsync_build_info", []string{"version", "dev", "goversion", runtime.Version()}, 1},
			{"orgsync_config_last_reload_successful", nil, 1},
			{"orgsync_run_in_progress", nil, 0},
			{"orgsync_runs_total", []string{"result", engine.StatusInterrupted}, 0},
			{"orgsync_runs_total", []string{"result", engine.StatusAttention}, 0},
			{"orgsync_last_run_status", []string{"status", engine.StatusSucceeded}, 0},
			{"orgsync_last_success_timestamp_seconds", nil, 0},
			{"orgsync_runs_restored", nil, 0},
			{"orgsync_changes_total", []string{"kind", "user_disable", "result", "failed"}, 0},
			{"orgsync_held_changes_by_kind", []string{"kind", "user_delete"}, 0},
			{"orgsync_runs_skipped_total", []string{"reason", "http"}, 0},
			{"orgsync_notification_errors_total", []string{"channel", "mail"}, 0},
			{"orgsync_config_reloads_total", []string{"result", "rejected"}, 0},
			{"orgsync_wecom_rate_limit_bans_total", []string{"api", "user/create"}, 0},
			{"orgsync_wecom_retries_total", []string{"api", "user/update"}, 0},
			{"orgsync_wecom_api_calls_total", []string{"api", "user/delete", "errcode", "0"}, 0},
		} {
			if v := value(fresh, c.name, c.labels...); v != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
			}
		}
		if n := histogramCount(fresh, "orgsync_wecom_api_request_duration_seconds", "api", "user/create"); n != 0 {
			t.Errorf("latency histogram for user/create = %v samples, want an empty series", n)
		}
	})

	e.latency.Store(int64(80 * time.Millisecond))
	if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	p.waitFor("the apply to be under way", 10*time.Second, func() bool { return e.users() >= 2 })
	if v := value(p.metrics(), "orgsync_run_in_progress"); v != 1 {
		t.Errorf("orgsync_run_in_progress during a run = %v", v)
	}
	p.waitFor("the run to end", 15*time.Second, func() bool { return len(p.finishedRuns()) == 1 })
	after := p.metrics()
	if v := value(after, "orgsync_run_in_progress"); v != 0 {
		t.Errorf("orgsync_run_in_progress after the run = %v", v)
	}
	if n := histogramCount(after, "orgsync_wecom_api_request_duration_seconds", "api", "user/create"); n != 10 {
		t.Errorf("user/create latency samples = %v, want 10", n)
	}
	lastSuccess := value(after, "orgsync_last_success_timestamp_seconds")
	if lastSuccess < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("last success after a run = %v", lastSuccess)
	}

	t.Run("a rejected reload reads 0, tells systemd, and a good one 1 again", func(t *testing.T) {
		good := e.schedule
		e.schedule = "schedule: {cron: 'every night'}\n"
		e.writeConfig()
		p.signal(syscall.SIGHUP)
		p.waitFor("the rejection", 5*time.Second, func() bool {
			return value(p.metrics(), "orgsync_config_last_reload_successful") == 0
		})
		p.waitFor("READY=1 after the rejection", 3*time.Second, func() bool {
			msgs := p.notify.all()
			i := strings.LastIndex(msgs, "RELOADING=1\nMONOTONIC_USEC=")
			return i >= 0 && strings.Contains(msgs[i:], "READY=1\nSTATUS=reload rejected") && strings.Contains(msgs[i:], "\nERRNO=22")
		})
		e.schedule = good
		e.writeConfig()
		p.signal(syscall.SIGHUP)
		p.waitFor("the good reload", 5*time.Second, func() bool {
			return value(p.metrics(), "orgsync_config_last_reload_successful") == 1
		})
		p.waitFor("READY=1 after the applied reload", 3*time.Second, func() bool {
			msgs := p.notify.all()
			i := strings.LastIndex(msgs, "READY=1\nSTATUS=configuration reloaded")
			return i >= 0 && strings.Contains(msgs[i:], "\nERRNO=0")
		})
	})
	p.stop(10 * time.Second)

	t.Run("a restart restores the last run and the last success from the state store", func(t *testing.T) {
		p2 := e.start()
		mfs := p2.metrics()
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"orgsync_last_success_timestamp_seconds", nil, lastSuccess},
			{"orgsync_last_run_timestamp_seconds", nil, lastSuccess},
			{"orgsync_last_run_status", []string{"status", engine.StatusSucceeded}, 1},
			{"orgsync_runs_restored", nil, 1},
			{"orgsync_source_records", []string{"source", "hr"}, 10},
			{"orgsync_held_changes", nil, 0},
			{"orgsync_runs_total", []string{"result", engine.StatusSucceeded}, 0}, // counters count this process
		} {
			if v := value(mfs, c.name, c.labels...); v != c.want {
				t.Errorf("after restart %s%v = %v, want %v", c.name, c.labels, v, c.want)
			}
		}
		p2.stop(10 * time.Second)
	})
}

func TestAStoppedRunIsInterruptedNotFailed(t *testing.T) {
	e := newEnv(t, 30)
	e.concurrency = 1
	e.latency.Store(int64(100 * time.Millisecond))
	p := e.start()
	if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	p.waitFor("the apply to be under way", 10*time.Second, func() bool { return e.users() >= 3 })
	p.stop(8 * time.Second)
	if l := p.logs.String(); !strings.Contains(l, `"level":"warn"`) || !strings.Contains(l, `"msg":"run stopped at a change boundary; the next run goes on from there"`) || strings.Contains(l, `"msg":"run failed"`) {
		t.Fatalf("the stop was logged as:\n%s", l)
	}

	e.latency.Store(0)
	p2 := e.start()
	mfs := p2.metrics()
	for _, c := range []struct {
		status string
		want   float64
	}{{engine.StatusInterrupted, 1}, {engine.StatusFailed, 0}} {
		if v := value(mfs, "orgsync_last_run_status", "status", c.status); v != c.want {
			t.Errorf("after the restart orgsync_last_run_status{status=%q} = %v, want %v", c.status, v, c.want)
		}
	}
	runs := p2.finishedRuns()
	if len(runs) != 1 || runs[0].Status != engine.StatusInterrupted || !strings.Contains(runs[0].Error, "stopped at a change boundary") {
		t.Fatalf("runs: %+v", runs)
	}
	p2.stop(10 * time.Second)
}
