package state

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/orgsync/orgsync/model"
)

func TestAnImportJobIsRecordedWithItsRowsAndSettledOnce(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		s := open(t)
		must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: model.Person{UserID: "C", Key: "E3"}, Adopted: true}}))
		// More rows than one INSERT carries.
		entries := make([]BeginEntry, jobRowsPerInsert+3)
		for i := range entries {
			entries[i] = BeginEntry{Op: "user_create", Object: fmt.Sprintf("u%04d", i), After: model.Person{UserID: fmt.Sprintf("u%04d", i)}}
		}
		entries[1] = BeginEntry{Op: "user_update", Object: "C", After: model.Person{UserID: "C", Key: "E3", Position: "x"}}
		ids, err := s.BeginMany(ctx, 7, entries)
		must(t, err)
		if _, err := s.BeginMany(ctx, 7, []BeginEntry{{Op: "user_create", Object: "other"}}); err != nil {
			t.Fatal(err)
		}
		jid, err := s.RecordImportJob(ctx, 7, "jobid_1", ids)
		must(t, err)
		open1, err := s.OpenImportJobs(ctx)
		if err != nil || len(open1) != 1 || open1[0].ID != jid || open1[0].Job != "jobid_1" || open1[0].RunID != 7 ||
			open1[0].Rows != len(ids) || open1[0].SubmittedAt.IsZero() || !open1[0].SettledAt.IsZero() {
			t.Fatalf("OpenImportJobs = %+v, %v", open1, err)
		}
		rows, err := s.ImportJobEntries(ctx, jid)
		if err != nil || len(rows) != len(ids) || rows[0].ID != ids[0] || rows[1].Object != "C" {
			t.Fatalf("ImportJobEntries: %d rows, %v", len(rows), err)
		}
		// One row failed in the submitting run: no longer the job's to settle.
		must(t, s.Finish(ctx, ids[2], StatusFailed, 60104, "x", Mutation{}))
		if rows, _ = s.ImportJobEntries(ctx, jid); len(rows) != len(ids)-1 {
			t.Fatalf("%d rows after one finished, want %d", len(rows), len(ids)-1)
		}
		sh, err := s.ShadowMembers(ctx, []string{"c", "u0000", "nobody"})
		if err != nil || len(sh) != 1 || sh["c"] == nil || !sh["c"].Adopted || sh["c"].Person.Key != "E3" {
			t.Fatalf("ShadowMembers = %v, %v", sh, err)
		}
		must(t, s.SettleImportJob(ctx, jid, JobFinished, []FinishEntry{
			{ID: ids[0], Status: StatusResolved, Errmsg: "from the job", Mut: Mutation{PutMember: &Member{Person: model.Person{UserID: "u0000"}}}},
			{ID: ids[3], Status: StatusFailed, Errcode: 60104, Errmsg: "from the job", Mut: Mutation{PutMember: &Member{Person: model.Person{UserID: "u0003"}}}},
		}))
		if o, _ := s.OpenImportJobs(ctx); len(o) != 0 {
			t.Fatalf("still open after settling: %+v", o)
		}
		all, err := s.ImportJobs(ctx, 0)
		if err != nil || len(all) != 1 || all[0].Outcome != JobFinished || all[0].SettledAt.IsZero() {
			t.Fatalf("ImportJobs = %+v, %v", all, err)
		}
		shadow, _ := s.LoadShadow(ctx)
		if shadow.Members["u0000"] == nil || shadow.Members["u0003"] != nil {
			t.Fatalf("a resolved row's mutation is applied and a failed row's is not")
		}
		// Rows the job's result did not name stay pending for the list-based settle.
		pend, _ := s.Pending(ctx)
		if len(pend) != len(ids)-3+1 {
			t.Fatalf("%d pending, want %d", len(pend), len(ids)-3+1)
		}
	})
}

func TestAFencedRecordImportJobRecordsNothing(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	a, b := openHA(t, dsn, "a"), openHA(t, dsn, "b")
	mustAcquire(t, a, time.Minute)
	ids, err := a.BeginMany(ctx, 1, []BeginEntry{{Op: "user_create", Object: "x"}})
	must(t, err)
	if _, err := b.RecordImportJob(ctx, 1, "jobid_x", ids); !errors.Is(err, ErrFenced) {
		t.Fatalf("a standby's RecordImportJob: %v", err)
	}
	jid, err := a.RecordImportJob(ctx, 1, "jobid_x", ids)
	must(t, err)
	if err := b.SettleImportJob(ctx, jid, JobFinished, []FinishEntry{{ID: ids[0], Status: StatusFailed}}); !errors.Is(err, ErrFenced) {
		t.Fatalf("a standby's SettleImportJob: %v", err)
	}
	if o, err := a.OpenImportJobs(ctx); err != nil || len(o) != 1 {
		t.Fatalf("open jobs after the fenced writes: %+v (%v)", o, err)
	}
	if pend, _ := a.Pending(ctx); len(pend) != 1 {
		t.Fatalf("the fenced settle finished the row: %+v", pend)
	}
}

func TestAVersion4StoreGetsTheImportJobTables(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		for _, q := range []string{`DROP TABLE import_job_rows`, `DROP TABLE import_jobs`} {
			if _, err := s.db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		setSchemaVersion(t, s, 4)
		s.Close()
		s2, err := reopen(s)
		must(t, err)
		defer s2.Close()
		if v, err := s2.schemaVersion(ctx); err != nil || v != SchemaVersion {
			t.Fatalf("schema version %d, %v; want %d", v, err, SchemaVersion)
		}
		ids, err := s2.BeginMany(ctx, 1, []BeginEntry{{Op: "user_create", Object: "a"}})
		must(t, err)
		if _, err := s2.RecordImportJob(ctx, 1, "jobid_a", ids); err != nil {
			t.Fatalf("an import job after migrating: %v", err)
		}
	})
}
