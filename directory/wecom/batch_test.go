package wecom_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

func batchWorld(t *testing.T, threshold int) (*wecom.Directory, *emulator.Server, *state.Store) {
	t.Helper()
	emu, err := emulator.New(emulator.Options{CorpID: "wwbatch", JobDelay: -1,
		Secrets: []emulator.SecretSpec{{Secret: "b", Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	d, err := wecom.New(wecom.Config{Client: client.Config{BaseURL: srv.URL, CorpID: "wwbatch", Secret: config.Secret("b")}, BatchThreshold: threshold}, zap.NewNop())
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
	stats := emu.Stats()
	if stats.Calls["user/create"] != 0 || stats.Calls["batch/syncuser"] != 1 || stats.Calls["media/upload"] != 1 {
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
