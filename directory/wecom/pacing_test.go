package wecom_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/fakeclock"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
)

// TestApplyLearnsALimitSetTooHigh: the client is configured at 6,000 calls
// a minute, WeCom allows 30. The first 45009 shows the limit, the client
// waits the window out, and paces below the limit for the rest, so no
// later call is refused. The emulator and the client share a fake clock,
// whose Sleep moves time on by each sleeper's wait: concurrent sleepers
// would add their waits up, so the calls are made one at a time here (the
// refusals of calls in flight at the first 45009, at most the
// concurrency, are BenchmarkApplyPaceLimitUnknown's, on the real clock).
func TestApplyLearnsALimitSetTooHigh(t *testing.T) {
	const n, limit, concurrency = 100, 30, 1
	clk := fakeclock.New(time.Date(2026, 5, 1, 9, 0, 10, 0, time.UTC))
	d, emu, st := batchWorldWith(t, emulator.Options{JobDelay: -1, RateLimitPerMinute: limit, Now: clk.Now},
		wecom.Config{BatchThreshold: -1, Client: client.Config{Clock: clk, RatePerMinute: 6000, Concurrency: concurrency}})
	ch := &plan.Changes{}
	for i := 0; i < n; i++ {
		p := model.Person{Key: fmt.Sprint(i), UserID: fmt.Sprintf("p%03d", i), Name: "员工", Mobile: fmt.Sprintf("1370000%04d", i), Enabled: true}
		ch.UserCreates = append(ch.UserCreates, plan.UserChange{Op: plan.OpUserCreate, UserID: p.UserID, After: &p})
	}
	res, err := d.Apply(context.Background(), ch, st, directory.ApplyOptions{RunID: 1})
	if err != nil || res.Done[plan.OpUserCreate] != n || len(res.Failed)+len(res.Pending) != 0 {
		t.Fatalf("apply: %v done %v failed %v pending %d", err, res.Done, res.Failed, len(res.Pending))
	}
	refused := emu.Stats().Errors["user/create"][client.CodeRateLimited]
	if refused == 0 || refused > concurrency {
		t.Errorf("%d calls refused with 45009, want 1..%d (those in flight when the limit was met, none after)", refused, concurrency)
	}
	cs := d.Client().Stats()
	if cs.Bans["user/create"] != 1 {
		t.Errorf("%d 45009 windows, want 1", cs.Bans["user/create"])
	}
	if l := cs.LearnedLimits["user/create"]; l < limit-concurrency || l > limit {
		t.Errorf("learned limit %d, want what the window let through (%d at most)", l, limit)
	}
	var pace client.APIPace
	for _, p := range d.LastPacing() {
		if p.API == "user/create" {
			pace = p
		}
	}
	// The first window ran at the full limit, the rest below it: over the
	// whole span the rate is about the limit, never much above it.
	if pace.Calls < n || !pace.Learned || pace.Limit != cs.LearnedLimits["user/create"] || pace.Ratio <= 0 || pace.Ratio > 1.1 || math.IsNaN(pace.Ratio) {
		t.Errorf("pacing report %+v: want every attempt, the learned limit and a ratio in (0, 1.1]", pace)
	}
	// The run report gets the same account through directory.Result.
	var inResult directory.Pace
	for _, p := range res.Pacing {
		if p.API == "user/create" {
			inResult = p
		}
	}
	if inResult.Calls != pace.Calls || inResult.Limit != pace.Limit || !inResult.Learned || inResult.Ratio != pace.Ratio {
		t.Errorf("Result.Pacing %+v, LastPacing %+v", inResult, pace)
	}
}
