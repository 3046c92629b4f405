package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/model"
)

func TestSecondOpenIsRefusedWithAClearMessage(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		_, err := reopen(s)
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open: got %v, want ErrLocked", err)
		}
		if !strings.Contains(err.Error(), "pid") {
			t.Fatalf("message does not say who holds the lock: %v", err)
		}
	})
}

func TestLockIsReleasedOnClose(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		s.Close()
		s2, err := reopen(s)
		if err != nil {
			t.Fatalf("reopen after close: %v", err)
		}
		s2.Close()
	})
}

func TestNewerSchemaIsRefused(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		setSchemaVersion(t, s, 99)
		s.Close()
		_, err := reopen(s)
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("got %v, want a 'newer schema' refusal", err)
		}
	})
}

func TestReopenMigratesNothingAndKeepsTheVersion(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		s.Close()
		s2, err := reopen(s)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if v, err := s2.schemaVersion(context.Background()); err != nil || v != SchemaVersion {
			t.Fatalf("schema version %d, %v; want %d", v, err, SchemaVersion)
		}
	})
}

func TestFinishDoneUpdatesShadowAndJournalTogether(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		s := open(t)
		run, err := s.StartRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := model.Person{Key: "E1", UserID: "ZhangSan", Name: "张三", Enabled: true, Departments: []string{"总部"}}
		id, err := s.Begin(ctx, run, "user_create", p.UserID, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		pend, _ := s.Pending(ctx)
		if len(pend) != 1 || pend[0].Object != "ZhangSan" {
			t.Fatalf("pending = %+v, want the create", pend)
		}
		if err := s.Finish(ctx, id, StatusDone, 0, "", Mutation{PutMember: &Member{Person: p}}); err != nil {
			t.Fatal(err)
		}
		sh, err := s.LoadShadow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := sh.Members["zhangsan"]
		if m == nil || m.Person.Name != "张三" || m.Person.UserID != "ZhangSan" {
			t.Fatalf("shadow member = %+v", m)
		}
		if pend, _ := s.Pending(ctx); len(pend) != 0 {
			t.Fatalf("still pending: %+v", pend)
		}
	})
}

func TestFailedCallLeavesShadowUnchanged(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		s := open(t)
		p := model.Person{Key: "E1", UserID: "lisi", Name: "李四"}
		id, _ := s.Begin(ctx, 1, "user_create", p.UserID, nil, p)
		if err := s.Finish(ctx, id, StatusFailed, 60104, "mobile existed", Mutation{PutMember: &Member{Person: p}}); err != nil {
			t.Fatal(err)
		}
		sh, _ := s.LoadShadow(ctx)
		if len(sh.Members) != 0 {
			t.Fatalf("failed call changed the shadow: %+v", sh.Members)
		}
		es, _ := s.Journal(ctx, JournalFilter{Object: "LISI"})
		if len(es) != 1 || es[0].ErrCode != 60104 || es[0].Status != StatusFailed {
			t.Fatalf("journal = %+v", es)
		}
	})
}

func TestShadowSurvivesReopenWithLeaverClock(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		s := open(t)
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := s.Apply(ctx, Mutation{
			PutMember: &Member{Person: model.Person{Key: "E9", UserID: "wangwu"}, DisabledAt: at, Adopted: true},
			PutDept:   &Dept{Department: model.Department{Key: "总部/研发中心", ID: 7, Name: "研发中心", ParentKey: "总部"}},
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s2, err := reopen(s)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		sh, err := s2.LoadShadow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := sh.Members["wangwu"]
		if m == nil || !m.DisabledAt.Equal(at) || !m.Adopted {
			t.Fatalf("member after reopen = %+v", m)
		}
		if d := sh.Departments["总部/研发中心"]; d == nil || d.Department.ID != 7 {
			t.Fatalf("department after reopen = %+v", d)
		}
		if got := sh.DeptKeyByID()[7]; got != "总部/研发中心" {
			t.Fatalf("DeptKeyByID[7] = %q", got)
		}
	})
}

func TestDepartmentIDMovesToItsNewKey(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		s := open(t)
		_ = s.Apply(ctx, Mutation{PutDept: &Dept{Department: model.Department{Key: "old", ID: 5}}})
		if err := s.Apply(ctx, Mutation{PutDept: &Dept{Department: model.Department{Key: "new", ID: 5}}}); err != nil {
			t.Fatal(err)
		}
		sh, _ := s.LoadShadow(ctx)
		if _, ok := sh.Departments["old"]; ok || sh.Departments["new"] == nil {
			t.Fatalf("departments = %+v", sh.Departments)
		}
	})
}

func TestRunsRecordStatusAndReport(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		s := open(t)
		id, _ := s.StartRun(ctx)
		if err := s.FinishRun(ctx, id, "refused", map[string]int{"user_disable": 40}); err != nil {
			t.Fatal(err)
		}
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "refused" || !strings.Contains(string(r.Report), `"user_disable":40`) {
			t.Fatalf("run = %+v", r)
		}
		if rs, _ := s.Runs(ctx, 5); len(rs) != 1 {
			t.Fatalf("runs = %d", len(rs))
		}
	})
}

func TestOpenCreatesMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "state.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// TestShadowOfManyMembersLoadsWhole reads more members than one decoding
// batch holds, with leaver clocks and adoption on some, and then one
// member whose stored JSON is damaged: the load gives every member as
// stored, or the decode error, never a part.
func TestShadowOfManyMembersLoadsWhole(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		s := open(t)
		const n = 2500 // two full batches and a part
		at := time.Unix(1_800_000_000, 0)
		var muts []Mutation
		for i := range n {
			m := &Member{Person: model.Person{Key: fmt.Sprintf("E%d", i), UserID: fmt.Sprintf("u%d", i), Name: fmt.Sprintf("员工%d", i),
				Departments: []string{fmt.Sprintf("d%d", i%7)}, Enabled: i%3 != 0}, Adopted: i%5 == 0}
			if i%11 == 0 {
				m.DisabledAt = at.Add(time.Duration(i) * time.Second)
			}
			muts = append(muts, Mutation{PutMember: m})
		}
		if err := s.ApplyAll(ctx, muts); err != nil {
			t.Fatal(err)
		}
		sh, err := s.LoadShadow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(sh.Members) != n {
			t.Fatalf("%d members loaded, want %d", len(sh.Members), n)
		}
		for _, mu := range muts {
			want := mu.PutMember
			got := sh.Members[want.Person.UserID]
			if got == nil || !reflect.DeepEqual(got.Person, want.Person) || got.Adopted != want.Adopted || !got.DisabledAt.Equal(want.DisabledAt) {
				t.Fatalf("member %s loaded as %+v, stored %+v", want.Person.UserID, got, want)
			}
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE members SET data = '{"key":"E1","userid":' WHERE userid_key = 'u1700'`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LoadShadow(ctx); err == nil || !strings.Contains(err.Error(), "decode member shadow") {
			t.Fatalf("a damaged member: %v, want the decode error", err)
		}
	})
}
