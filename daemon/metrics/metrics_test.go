package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/orgsync/orgsync/directory"
	wecom "github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/plan"
)

type fakeClient struct{ s wecom.Stats }

// Stats returns a copy, as StatsSource requires.
func (f *fakeClient) Stats() wecom.Stats {
	var s wecom.Stats
	s.Add(f.s)
	return s
}

func TestObserveRun(t *testing.T) {
	m := New()
	t0 := time.Unix(1_700_000_000, 0)
	m.ObserveRun(&engine.Report{Status: engine.StatusFailed, StartedAt: t0, FinishedAt: t0.Add(3 * time.Second),
		Changes: map[string]int{"user_create": 5, "user_update": 0}, Held: 2,
		HeldChanges:   []plan.Held{{Op: plan.OpUserDisable, Object: "a"}, {Op: plan.OpUserDisable, Object: "b"}},
		Failures:      []directory.ItemResult{{Op: plan.OpUserCreate, Object: "x"}},
		Pending:       []directory.ItemResult{{Op: plan.OpUserCreate, Object: "y"}, {Op: plan.OpUserUpdate, Object: "z"}},
		SourceRecords: map[string]int{"hr": 300}}, t0.Add(3*time.Second))
	m.ObserveRun(&engine.Report{Status: engine.StatusSucceeded, Changes: map[string]int{"user_create": 1}}, t0.Add(time.Minute))

	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"counts runs by result", testutil.ToFloat64(m.runs.WithLabelValues("failed")), 1},
		{"counts successful runs", testutil.ToFloat64(m.runs.WithLabelValues("succeeded")), 1},
		{"sums applied changes across runs", testutil.ToFloat64(m.changes.WithLabelValues("user_create", "succeeded")), 6},
		{"counts failed changes by kind", testutil.ToFloat64(m.changes.WithLabelValues("user_create", "failed")), 1},
		{"counts pending changes by kind", testutil.ToFloat64(m.changes.WithLabelValues("user_update", "pending")), 1},
		{"keeps the last run's held count", testutil.ToFloat64(m.held), 0},
		{"records the last success", testutil.ToFloat64(m.lastSuccess), float64(t0.Add(time.Minute).Unix())},
		{"marks the last status", testutil.ToFloat64(m.lastStatus.WithLabelValues("succeeded")), 1},
		{"clears the previous status", testutil.ToFloat64(m.lastStatus.WithLabelValues("failed")), 0},
		{"keeps source records of the last run that read them", testutil.ToFloat64(m.sourceRecords.WithLabelValues("hr")), 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	t.Run("counts a run with no report as failed", func(t *testing.T) {
		m.ObserveRun(nil, t0)
		if v := testutil.ToFloat64(m.runs.WithLabelValues("failed")); v != 2 {
			t.Fatalf("failed runs = %v", v)
		}
	})
}

func TestNextRunIsReadAtScrapeTime(t *testing.T) {
	m := New()
	if v := testutil.ToFloat64(m.nextRun); v != 0 {
		t.Fatalf("next run without a schedule = %v", v)
	}
	next := time.Unix(1_800_000_000, 0)
	m.SetNextRun(func() time.Time { return next })
	if v := testutil.ToFloat64(m.nextRun); v != 1_800_000_000 {
		t.Fatalf("next run = %v", v)
	}
	next = next.Add(time.Hour)
	if v := testutil.ToFloat64(m.nextRun); v != 1_800_003_600 {
		t.Fatalf("next run after a tick = %v", v)
	}
}

func TestWeComCountersSurviveAClientSwap(t *testing.T) {
	m := New()
	old := &fakeClient{s: wecom.Stats{Calls: map[string]map[int]int{"user/create": {0: 10, 60104: 1}},
		HTTPStatus: map[string]map[int]int{"user/update": {502: 2}}, TransportErrors: map[string]int{"user/update": 1},
		RateLimitWaits: map[string]int{"user/create": 4}, RateLimitWaitTime: 2 * time.Second}}
	m.SetClient(old)
	m.SetClient(&fakeClient{s: wecom.Stats{Calls: map[string]map[int]int{"user/create": {0: 3}}, RateLimitWaits: map[string]int{"user/create": 1}}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`orgsync_wecom_api_calls_total{api="user/create",errcode="0"} 13`,
		`orgsync_wecom_api_calls_total{api="user/create",errcode="60104"} 1`,
		`orgsync_wecom_api_calls_total{api="user/update",errcode="http_502"} 2`,
		`orgsync_wecom_api_calls_total{api="user/update",errcode="transport"} 1`,
		`orgsync_wecom_rate_limit_waits_total{api="user/create"} 5`,
		`orgsync_wecom_rate_limit_wait_seconds_total 2`,
		`orgsync_runs_total{result="refused"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// every API's errcode 0 (user/create's counted), and 60104, http_502, transport
	if n, err := testutil.GatherAndCount(m.Registry(), "orgsync_wecom_api_calls_total"); err != nil || n != len(APIs)+3 {
		t.Fatalf("api call series = %d, %v", n, err)
	}
}

func TestWeComCountersDoNotGrowWithScrapes(t *testing.T) {
	m := New()
	m.SetClient(&fakeClient{s: wecom.Stats{Calls: map[string]map[int]int{"user/create": {0: 10}}, Bans: map[string]int{"user/create": 1}}})
	m.SetClient(&fakeClient{s: wecom.Stats{Calls: map[string]map[int]int{"user/create": {0: 3}}}})
	for i := range 3 {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body := rec.Body.String()
		for _, want := range []string{
			`orgsync_wecom_api_calls_total{api="user/create",errcode="0"} 13`,
			`orgsync_wecom_rate_limit_bans_total{api="user/create"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("scrape %d lacks %q", i+1, want)
			}
		}
	}
}

func TestRestoreFindsTheLastSuccessBehindNewerFailures(t *testing.T) {
	m := New()
	t0 := time.Unix(1_700_000_000, 0)
	m.Restore([]PastRun{
		{Status: engine.StatusInterrupted, Finished: t0.Add(2 * time.Hour), Report: &engine.Report{Held: 3, SourceRecords: map[string]int{"hr": 9}}},
		{Status: engine.StatusFailed, Finished: t0.Add(time.Hour)},
		{Status: engine.StatusAttention, Finished: t0},
		{Status: engine.StatusSucceeded, Finished: t0.Add(-time.Hour)},
	})
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"the last run is the newest", testutil.ToFloat64(m.lastRun), float64(t0.Add(2 * time.Hour).Unix())},
		{"its status is marked", testutil.ToFloat64(m.lastStatus.WithLabelValues(engine.StatusInterrupted)), 1},
		{"a run that needed attention counts as a success", testutil.ToFloat64(m.lastSuccess), float64(t0.Unix())},
		{"held changes come from the newest report", testutil.ToFloat64(m.held), 3},
		{"source records too", testutil.ToFloat64(m.sourceRecords.WithLabelValues("hr")), 9},
		{"counters stay at zero", testutil.ToFloat64(m.runs.WithLabelValues(engine.StatusSucceeded)), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestALearnedLimitShowsOnlyOnceA45009ShowedIt(t *testing.T) {
	m := New()
	c := &fakeClient{}
	m.SetClient(c)
	if n, err := testutil.GatherAndCount(m.Registry(), "orgsync_wecom_rate_limit_learned_per_minute"); err != nil || n != 0 {
		t.Fatalf("before any 45009: %d series, %v", n, err)
	}
	c.s.LearnedLimits = map[string]int{"user/create": 3000}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `orgsync_wecom_rate_limit_learned_per_minute{api="user/create"} 3000`; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("metrics lack %q", want)
	}
}

func TestLeaderAndFencedWrites(t *testing.T) {
	m := New()
	if v := testutil.ToFloat64(m.leader); v != 1 {
		t.Fatalf("a lone daemon's orgsync_leader = %v, want 1", v)
	}
	m.SetLeader(false, false) // HA: standing by at start, no change yet
	m.SetLeader(true, true)
	m.SetLeader(false, true)
	if testutil.ToFloat64(m.leader) != 0 || testutil.ToFloat64(m.leaderChanges) != 2 {
		t.Fatalf("leader %v, changes %v", testutil.ToFloat64(m.leader), testutil.ToFloat64(m.leaderChanges))
	}
	var n int64 = 3
	m.SetFencedSource(func() int64 { return n })
	m.SetFencedSource(func() int64 { return 1 }) // a reload's new store: the old one's 3 are kept
	if v := testutil.ToFloat64(m.fencedWrites); v != 4 {
		t.Fatalf("fenced writes %v, want 4", v)
	}
}
