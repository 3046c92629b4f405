package wecom_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/fakeclock"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

func batchWorld(t *testing.T, threshold int) (*wecom.Directory, *emulator.Server, *state.Store) {
	return batchWorldWith(t, emulator.Options{JobDelay: -1}, wecom.Config{BatchThreshold: threshold})
}

// batchWorldWith is an emulator with opts (corp and secret set here) and a
// directory on it with cfg (its client's address and credentials set here).
func batchWorldWith(t *testing.T, opts emulator.Options, cfg wecom.Config) (*wecom.Directory, *emulator.Server, *state.Store) {
	return batchWorldRefusing(t, opts, cfg, "", 0)
}

// batchWorldRefusing is batchWorldWith where the API refuse answers
// errcode code without reaching the emulator.
func batchWorldRefusing(t *testing.T, opts emulator.Options, cfg wecom.Config, refuse string, code int) (*wecom.Directory, *emulator.Server, *state.Store) {
	t.Helper()
	opts.CorpID, opts.Secrets = "wwbatch", []emulator.SecretSpec{{Secret: "b", Role: emulator.RoleContactsSyncEdit}}
	emu, err := emulator.New(opts, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse != "" && r.URL.Path == "/cgi-bin/"+refuse {
			fmt.Fprintf(w, `{"errcode":%d,"errmsg":"refused by the test"}`, code)
			return
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Client.BaseURL, cfg.Client.CorpID, cfg.Client.Secret = srv.URL, "wwbatch", config.Secret("b")
	d, err := wecom.New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return d, emu, st
}

func creates(n int) *plan.Changes {
	ch := &plan.Changes{}
	for i := 0; i < n; i++ {
		p := model.Person{Key: fmt.Sprint(i), UserID: fmt.Sprintf("u%03d", i), Name: fmt.Sprintf("员工%d", i), Mobile: fmt.Sprintf("1380000%04d", i), Position: "工程师", Gender: model.GenderFemale, Enabled: true}
		if i > 0 {
			p.DirectLeaders = []string{"u000"}
		}
		ch.UserCreates = append(ch.UserCreates, plan.UserChange{Op: plan.OpUserCreate, UserID: p.UserID, After: &p})
	}
	return ch
}

func TestManyCreatesGoThroughOneImportJob(t *testing.T) {
	d, emu, st := batchWorld(t, 10)
	ctx := context.Background()
	// Someone else's member holds row 7's mobile: that row fails, alone.
	c := d.Client()
	if err := c.CreateUser(ctx, client.UserCreate{UserID: "other", Name: "别人", Mobile: "13800000007", Department: []int{1}}); err != nil {
		t.Fatal(err)
	}
	emu.ResetStats()
	res, err := d.Apply(ctx, creates(40), st, directory.ApplyOptions{RunID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Done[plan.OpUserCreate] != 39 || len(res.Failed) != 1 || res.Failed[0].Object != "u007" || res.Failed[0].Code != 60104 {
		t.Fatalf("result %+v", res)
	}
	// The row the job rejected is tried once more, one call: the error
	// reported is the member API's own.
	stats := emu.Stats()
	if stats.Calls["user/create"] != 1 || stats.Calls["batch/syncuser"] != 1 || stats.Calls["media/upload"] != 1 {
		t.Fatalf("calls %v", stats.Calls)
	}
	// Leaders are linked after the job, one call each (the template has no
	// leader column that WeCom documents).
	for _, u := range emu.State().Users {
		if strings.HasPrefix(u.UserID, "u") && u.UserID != "u000" && u.UserID != "u007" && (len(u.DirectLeader) != 1 || u.DirectLeader[0] != "u000") {
			t.Fatalf("%s: leaders %v", u.UserID, u.DirectLeader)
		}
		if u.UserID == "u001" && (u.Position != "工程师" || u.Gender != "2" || u.Mobile != "13800000001") {
			t.Fatalf("u001 = %+v", u)
		}
	}
	sh, err := st.LoadShadow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sh.Members) != 39 || sh.Members["u007"] != nil {
		t.Fatalf("%d members owned", len(sh.Members))
	}
	pend, _ := st.Pending(ctx)
	if len(pend) != 0 {
		t.Fatalf("%d entries left pending", len(pend))
	}
}

func TestFewCreatesGoOneCallEach(t *testing.T) {
	d, emu, st := batchWorld(t, 10)
	emu.ResetStats()
	if _, err := d.Apply(context.Background(), creates(10), st, directory.ApplyOptions{RunID: 1}); err != nil {
		t.Fatal(err)
	}
	if s := emu.Stats(); s.Calls["user/create"] != 10 || s.Calls["batch/syncuser"] != 0 {
		t.Fatalf("calls %v", s.Calls)
	}
}

func TestLeadersGoInTheImportFileWithTheLeaderColumn(t *testing.T) {
	d, emu, st := batchWorldWith(t, emulator.Options{JobDelay: -1, ImportDirectLeaderColumn: true},
		wecom.Config{BatchThreshold: 10, ImportLeaderColumn: true})
	// Reports before their leader in the plan: the file still lists the
	// leader first, so the server knows them when it reads the reports.
	ch := creates(40)
	slices.Reverse(ch.UserCreates)
	res, err := d.Apply(context.Background(), ch, st, directory.ApplyOptions{RunID: 1})
	if err != nil || res.Done[plan.OpUserCreate] != 40 || len(res.Failed) != 0 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	if s := emu.Stats(); s.Calls["user/update"] != 0 || s.Calls["user/create"] != 0 || s.Calls["batch/syncuser"] != 1 {
		t.Fatalf("calls %v: want one job and no link calls", s.Calls)
	}
	for _, u := range emu.State().Users {
		if u.UserID != "u000" && (len(u.DirectLeader) != 1 || u.DirectLeader[0] != "u000") {
			t.Fatalf("%s: leaders %v", u.UserID, u.DirectLeader)
		}
	}
	sh, _ := st.LoadShadow(context.Background())
	if m := sh.Members["u001"]; m == nil || !slices.Equal(m.Person.DirectLeaders, []string{"u000"}) {
		t.Fatalf("shadow u001 = %+v", m)
	}
}

// updates changes the people of a create plan: position for the first
// nPos, mobile for the next nMobile, and alias cleared for the next nClear.
func updates(created *plan.Changes, nPos, nMobile, nClear int) *plan.Changes {
	ch := &plan.Changes{}
	for i, c := range created.UserCreates {
		before := *c.After
		after := before
		var fields []string
		switch {
		case i < nPos:
			after.Position, fields = "架构师", []string{"position"}
		case i < nPos+nMobile:
			after.Mobile, fields = fmt.Sprintf("1390000%04d", i), []string{"mobile"}
		case i < nPos+nMobile+nClear:
			fields = []string{"alias"}
			after.SetAlias("")
		default:
			continue
		}
		ch.UserUpdates = append(ch.UserUpdates, plan.UserChange{Op: plan.OpUserUpdate, UserID: after.UserID, Before: &before, After: &after, Fields: fields})
	}
	return ch
}

func TestManyUpdatesGoThroughOneJobPerColumnSet(t *testing.T) {
	d, emu, st := batchWorld(t, 100)
	ctx := context.Background()
	created := creates(300)
	for i := range created.UserCreates {
		created.UserCreates[i].After.SetAlias("阿" + fmt.Sprint(i))
		created.UserCreates[i].After.SetTelephone("010-8888")
		created.UserCreates[i].After.DirectLeaders = nil
	}
	if res, err := d.Apply(ctx, created, st, directory.ApplyOptions{RunID: 1}); err != nil || res.Done[plan.OpUserCreate] != 300 {
		t.Fatalf("first import: %v %+v", err, res)
	}
	// Someone else holds the number row 150 moves to: that row fails.
	if err := d.Client().CreateUser(ctx, client.UserCreate{UserID: "other", Name: "别人", Mobile: "13900000150", Department: []int{1}}); err != nil {
		t.Fatal(err)
	}
	emu.ResetStats()
	sh, _ := st.LoadShadow(ctx)
	res, err := d.Apply(ctx, updates(created, 120, 110, 5), st, directory.ApplyOptions{RunID: 2, Shadow: sh})
	if err != nil {
		t.Fatal(err)
	}
	if res.Done[plan.OpUserUpdate] != 234 || len(res.Failed) != 1 || res.Failed[0].Object != "u150" || res.Failed[0].Code != 60104 {
		t.Fatalf("result %+v", res)
	}
	s := emu.Stats()
	// One file for 职位, one for 手机号; the five that clear 别名 and the
	// rejected row go one call each.
	if s.Calls["batch/syncuser"] != 2 || s.Calls["user/update"] != 6 {
		t.Fatalf("calls %v", s.Calls)
	}
	if s.Writes > 235 {
		t.Fatalf("%d writes for 235 changes", s.Writes)
	}
	users := map[string]emulator.User{}
	for _, u := range emu.State().Users {
		users[u.UserID] = u
	}
	for _, c := range []struct {
		name, userid                 string
		position, mobile, alias, tel string
	}{
		{"a position row leaves mobile, alias and telephone", "u000", "架构师", "13800000000", "阿0", "010-8888"},
		{"a mobile row leaves position, alias and telephone", "u130", "工程师", "13900000130", "阿130", "010-8888"},
		{"a cleared alias is cleared (one call)", "u231", "工程师", "13800000231", "", "010-8888"},
		{"an unchanged member is unchanged", "u299", "工程师", "13800000299", "阿299", "010-8888"},
		{"a rejected row keeps its old value", "u150", "工程师", "13800000150", "阿150", "010-8888"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := users[c.userid]
			if u.Position != c.position || u.Mobile != c.mobile || u.Alias != c.alias || u.Telephone != c.tel || u.Name == "" {
				t.Fatalf("%s = %+v", c.userid, u)
			}
		})
	}
	sh, _ = st.LoadShadow(ctx)
	if sh.Members["u000"].Person.Position != "架构师" || sh.Members["u130"].Person.Mobile != "13900000130" || sh.Members["u150"].Person.Mobile != "13800000150" {
		t.Fatalf("shadow not settled from the job's rows")
	}
	if pend, _ := st.Pending(ctx); len(pend) != 0 {
		t.Fatalf("%d entries left pending", len(pend))
	}
}

// settleNextRun is the next run's first step (engine.settlePending): every
// entry left pending or uncertain is settled from WeCom's lists.
func settleNextRun(t *testing.T, d *wecom.Directory, st *state.Store) {
	t.Helper()
	ctx := context.Background()
	cur, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pend, err := st.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range pend {
		s := directory.Settle(en, cur)
		if err := st.Resolve(ctx, en.ID, s.Status, s.Msg, s.Mut); err != nil {
			t.Fatal(err)
		}
	}
	if pend, _ = st.Pending(ctx); len(pend) != 0 {
		t.Fatalf("%d entries still pending after the next run settled", len(pend))
	}
}

func TestAJobThatTimesOutIsSettledByTheNextRun(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	// 40 rows at one a minute: the job outlasts the 10-minute wait.
	d, emu, st := batchWorldWith(t, emulator.Options{JobDelay: time.Second, JobRowsPerSecond: 1.0 / 60, Now: clk.Now},
		wecom.Config{BatchThreshold: 10, JobTimeout: 10 * time.Minute, Client: client.Config{Clock: clk}})
	ctx := context.Background()
	res, err := d.Apply(ctx, creates(40), st, directory.ApplyOptions{RunID: 1})
	if err != nil || len(res.Pending) != 40 || res.Done[plan.OpUserCreate] != 0 {
		t.Fatalf("apply: %v done %v, %d pending", err, res.Done, len(res.Pending))
	}
	if s := emu.Stats(); s.Calls["user/create"] != 0 || s.Calls["batch/getresult"] > 30 {
		t.Fatalf("calls %v: want no per-call creates behind a running job, and polls with backoff", s.Calls)
	}
	// The job finishes before the next run, which settles every row from
	// list_id: the members are owned, nothing is left uncertain.
	_ = clk.Sleep(ctx, time.Hour)
	settleNextRun(t, d, st)
	sh, _ := st.LoadShadow(ctx)
	if len(sh.Members) != 40 {
		t.Fatalf("%d members owned after settling, want 40", len(sh.Members))
	}
}

func TestAJobBehindAnotherRunningJobWaitsForTheNextRun(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	d, emu, st := batchWorldWith(t, emulator.Options{JobDelay: time.Hour, Now: clk.Now},
		wecom.Config{BatchThreshold: 10, Client: client.Config{Clock: clk}})
	ctx := context.Background()
	// Someone else's job, still running for an hour.
	c := d.Client()
	media, err := c.UploadMedia(ctx, "file", "other.csv", []byte("姓名,帐号,手机号,所在部门\n别人,other,13700000000,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SyncUsers(ctx, client.BatchJob{MediaID: media.MediaID}); err != nil {
		t.Fatal(err)
	}
	emu.ResetStats()
	res, err := d.Apply(ctx, creates(40), st, directory.ApplyOptions{RunID: 1})
	if err != nil || len(res.Pending) != 40 || len(res.Failed) != 0 {
		t.Fatalf("apply: %v, %d pending, failed %v", err, len(res.Pending), res.Failed)
	}
	if s := emu.Stats(); s.Calls["user/create"] != 0 || s.Errors["batch/syncuser"][302008] == 0 {
		t.Fatalf("calls %v errors %v: want 302008 and no per-call creates racing the running job", s.Calls, s.Errors)
	}
	if pend, _ := st.Pending(ctx); len(pend) != 0 {
		t.Fatalf("%d entries pending: nothing was sent, nothing is uncertain", len(pend))
	}
}

func TestAFailedJobLeavesNothingUncertain(t *testing.T) {
	for _, c := range []struct {
		name, api string
		code      int
	}{
		{"the upload is refused (40006): every row goes one call", "media/upload", 40006},
		{"the job is refused (40092): every row goes one call", "batch/syncuser", 40092},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, emu, st := batchWorldRefusing(t, emulator.Options{JobDelay: -1}, wecom.Config{BatchThreshold: 10}, c.api, c.code)
			res, err := d.Apply(context.Background(), creates(40), st, directory.ApplyOptions{RunID: 1})
			if err != nil || res.Done[plan.OpUserCreate] != 40 || len(res.Pending) != 0 || len(res.Failed) != 0 {
				t.Fatalf("apply: %v %+v", err, res)
			}
			if n := emu.Stats().Calls["user/create"]; n != 40 {
				t.Fatalf("%d creates one call each, want 40", n)
			}
			settleNextRun(t, d, st)
		})
	}
}
