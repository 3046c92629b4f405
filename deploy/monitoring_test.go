package deploy

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/daemon/metrics"
	wecom "github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/testservers"
)

type statsOf wecom.Stats

func (s statsOf) Stats() wecom.Stats {
	var c wecom.Stats
	c.Add(wecom.Stats(s))
	return c
}

// exportedMetrics is every series name the daemon can export, with a
// histogram's _bucket, _sum and _count.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	m.ObserveRun(&engine.Report{Status: engine.StatusSucceeded, SourceRecords: map[string]int{"hr": 1}, FinishedAt: time.Now()}, time.Now())
	m.SetClient(statsOf{Calls: map[string]map[int]int{"user/create": {0: 1}}})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		if mf.GetType().String() == "HISTOGRAM" {
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		}
	}
	return names
}

var metricRef = regexp.MustCompile(`\b(orgsync_[a-z_]+|up)\b`)

func checkRefs(t *testing.T, what, expr string, known map[string]bool) {
	t.Helper()
	for _, name := range metricRef.FindAllString(expr, -1) {
		if !known[name] {
			t.Errorf("%s uses %s, which orgsync does not export: %s", what, name, expr)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			For    string            `yaml:"for"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	var rf ruleFile
	if err := yaml.Unmarshal([]byte(read(t, "monitoring/orgsync.rules.yml")), &rf); err != nil {
		t.Fatal(err)
	}
	known := exportedMetrics(t)
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			checkRefs(t, "alert "+r.Alert, r.Expr, known)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q", r.Alert, s)
			}
		}
	}
	sort.Strings(alerts)
	want := []string{"OrgsyncChangesHeld", "OrgsyncConfigReloadRejected", "OrgsyncDown", "OrgsyncFencedWrites", "OrgsyncNeedsAttention", "OrgsyncNoLeader",
		"OrgsyncNoRecentSuccess", "OrgsyncNotificationErrors", "OrgsyncRunFailed", "OrgsyncRunRefused", "OrgsyncWeComRateLimitBans"}
	if !reflect.DeepEqual(alerts, want) {
		t.Errorf("alerts = %v\nwant %v", alerts, want)
	}

	promtool := testservers.NeedTool(t, "promtool")
	t.Run("promtool check rules", func(t *testing.T) {
		run(t, promtool, "check", "rules", "monitoring/orgsync.rules.yml")
	})
	t.Run("promtool test rules", func(t *testing.T) {
		cmd := exec.Command(promtool, "test", "rules", "orgsync.rules.test.yml")
		cmd.Dir = "monitoring"
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Fatalf("%v\n%s", err, out)
		}
	})
}

func TestPrometheusOperatorResources(t *testing.T) {
	byKind := map[string]map[string]any{}
	for _, d := range docs(t, "kubernetes/monitoring.yaml") {
		byKind[fmt.Sprint(d["kind"])] = d
	}
	t.Run("the PrometheusRule carries exactly the rules file's groups", func(t *testing.T) {
		var file map[string]any
		if err := yaml.Unmarshal([]byte(read(t, "monitoring/orgsync.rules.yml")), &file); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(dig(byKind["PrometheusRule"], "spec", "groups"), file["groups"]) {
			t.Fatal("kubernetes/monitoring.yaml's PrometheusRule differs from monitoring/orgsync.rules.yml")
		}
	})
	for _, example := range []string{"kubernetes/deployment.yaml", "kubernetes/ha.yaml"} {
		t.Run("the ServiceMonitor scrapes the http port of the Service of "+example, func(t *testing.T) {
			serviceMonitorScrapes(t, byKind["ServiceMonitor"], example)
		})
	}
}

// serviceMonitorScrapes checks that sm selects the Service of the example
// file and scrapes its http port's /metrics as job "orgsync".
func serviceMonitorScrapes(t *testing.T, sm map[string]any, example string) {
	t.Helper()
	var svc map[string]any
	for _, d := range docs(t, example) {
		if d["kind"] == "Service" {
			svc = d
		}
	}
	if svc == nil {
		t.Fatalf("no Service in %s", example)
	}
	sel := dig(sm, "spec", "selector", "matchLabels").(map[string]any)
	labels := dig(svc, "metadata", "labels").(map[string]any)
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v; the Service has %v", k, v, labels[k])
		}
	}
	if p := dig(sm, "spec", "endpoints", 0, "port"); p != dig(svc, "spec", "ports", 0, "name") || dig(sm, "spec", "endpoints", 0, "path") != "/metrics" {
		t.Errorf("endpoint port %v path %v", p, dig(sm, "spec", "endpoints", 0, "path"))
	}
	// up{job="orgsync"} in the rules: the job is the Service's name label
	if j := dig(sm, "spec", "jobLabel"); labels[fmt.Sprint(j)] != "orgsync" {
		t.Errorf("jobLabel %v does not make job=\"orgsync\"", j)
	}
}

func TestGrafanaDashboard(t *testing.T) {
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(read(t, "monitoring/grafana-dashboard.json")), &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard %q has %d panels", d.Title, len(d.Panels))
	}
	known := exportedMetrics(t)
	used := map[string]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkRefs(t, "panel "+p.Title, tg.Expr, known)
			for _, n := range metricRef.FindAllString(tg.Expr, -1) {
				used[n] = true
			}
		}
	}
	for _, must := range []string{"orgsync_last_success_timestamp_seconds", "orgsync_held_changes", "orgsync_wecom_api_request_duration_seconds_bucket", "orgsync_run_in_progress"} {
		if !used[must] {
			t.Errorf("no panel shows %s", must)
		}
	}
}
