package wecom_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
	"github.com/orgsync/orgsync/target/wecom"
	"github.com/orgsync/orgsync/target/wecom/emulator"
)

// BenchmarkApplyPace checks DESIGN §5's apply target: N writes take at most
// 1.1 × N / (WeCom's rate limit) and never meet 45009. Scaled down so that
// it runs in about 20 s: the emulator enforces 1000 calls per API per
// minute and the client paces at 92% of that, as the default 9200 does
// against WeCom's 10000. x_limit is elapsed / (N / limit); want ≤ 1.1.
func BenchmarkApplyPace(b *testing.B) {
	const (
		n     = 300
		limit = 1000 // per API per minute
	)
	for i := 0; i < b.N; i++ {
		emu, err := emulator.New(emulator.Options{CorpID: "wwpace", RateLimitPerMinute: limit,
			Secrets: []emulator.SecretSpec{{Secret: "pace", Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(emu)
		c, err := wecom.New(wecom.Config{BaseURL: srv.URL, CorpID: "wwpace", Secret: config.Secret("pace"),
			RatePerMinute: limit * 92 / 100}, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		st, err := state.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"))
		if err != nil {
			b.Fatal(err)
		}
		ch := &plan.Changes{}
		for j := 0; j < n; j++ {
			p := model.Person{Key: fmt.Sprint(j), UserID: fmt.Sprintf("u%04d", j), Name: "员工", Mobile: fmt.Sprintf("1380000%04d", j), Enabled: true}
			ch.UserCreates = append(ch.UserCreates, plan.UserChange{Op: plan.OpUserCreate, UserID: p.UserID, After: &p})
		}
		a := &wecom.Applier{Client: c, Journal: st, RunID: 1, RootID: 1, Concurrency: 8}
		start := time.Now()
		res, err := a.Apply(context.Background(), ch)
		elapsed := time.Since(start)
		if err != nil || res.Done[plan.OpUserCreate] != n {
			b.Fatalf("apply: %v %+v", err, res)
		}
		if bans := emu.Stats().Errors["user/create"][45009]; bans != 0 {
			b.Fatalf("%d calls met 45009", bans)
		}
		ideal := time.Duration(float64(n) / limit * float64(time.Minute))
		b.ReportMetric(elapsed.Seconds()/ideal.Seconds(), "x_limit")
		st.Close()
		srv.Close()
	}
}
