package state

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/internal/testservers"
	"github.com/orgsync/orgsync/model"
)

// migrateClock is the fixed instant the populated stores are written at.
var migrateClock = time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)

func migratePerson(i int) model.Person {
	return model.Person{Key: fmt.Sprintf("E%03d", i), UserID: fmt.Sprintf("User%03d", i), Name: fmt.Sprintf("员工%d", i),
		Mobile: fmt.Sprintf("1380000%04d", i), Departments: []string{"总部/研发"}, Enabled: true}
}

// populate gives s something of everything the schema holds: created,
// adopted and disabled members, departments, runs, journal entries done,
// failed and left pending, and held changes with their decisions.
func populate(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	now := migrateClock
	s.SetClock(func() time.Time { now = now.Add(1500 * time.Millisecond); return now })

	dept := Dept{Department: model.Department{Key: "总部/研发", Name: "研发", ParentKey: "总部", ID: 7, ParentID: 1}}
	must(t, s.Apply(ctx, Mutation{PutDept: &Dept{Department: model.Department{Key: "总部", Name: "总部", ID: 1}, Adopted: true}}))
	must(t, s.Apply(ctx, Mutation{PutDept: &dept}))

	run1, err := s.StartRun(ctx)
	must(t, err)
	for i := 1; i <= 5; i++ {
		p := migratePerson(i)
		id, err := s.Begin(ctx, run1, "user_create", p.UserID, nil, p)
		must(t, err)
		must(t, s.Finish(ctx, id, StatusDone, 0, "", Mutation{PutMember: &Member{Person: p}}))
	}
	fid, err := s.Begin(ctx, run1, "user_create", "user006", nil, migratePerson(6))
	must(t, err)
	must(t, s.Finish(ctx, fid, StatusFailed, 60104, "mobile existed", Mutation{}))
	must(t, s.FinishRun(ctx, run1, "failed", map[string]int{"user_create": 5}))

	run2, err := s.StartRun(ctx)
	must(t, err)
	must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: migratePerson(7), Adopted: true}}))
	leaver := migratePerson(3)
	leaver.Enabled = false
	did, err := s.Begin(ctx, run2, "user_disable", leaver.UserID, migratePerson(3), leaver)
	must(t, err)
	must(t, s.Finish(ctx, did, StatusDone, 0, "", Mutation{PutMember: &Member{Person: leaver, DisabledAt: now}}))
	_, err = s.Begin(ctx, run2, "user_update", "user004", migratePerson(4), migratePerson(40))
	must(t, err) // left pending: the process "died" here
	// An import job, submitted and not yet settled.
	jobRows, err := s.BeginMany(ctx, run2, []BeginEntry{{Op: "user_create", Object: "User008", After: migratePerson(8)}})
	must(t, err)
	_, err = s.RecordImportJob(ctx, run2, "jobid_migrate", jobRows)
	must(t, err)
	must(t, s.Hold(ctx, run2, []HeldChange{heldDisable, heldMove}))
	hs, err := s.ListHeld(ctx, HeldFilter{Op: heldMove.Op})
	must(t, err)
	_, err = s.DecideHeld(ctx, []int64{hs[0].ID}, HeldApproved, "alice", "ok")
	must(t, err)
}

// storeContents is everything a store's API shows, to compare two stores.
type storeContents struct {
	Shadow  *Shadow
	Pending []Entry
	Journal []Entry
	Runs    []Run
	Held    []HeldChange
	Events  map[int64][]HeldEvent
	Jobs    []ImportJob
	JobRows map[int64][]Entry // an open job's unsettled entries
}

func contentsOf(t *testing.T, s *Store) storeContents {
	t.Helper()
	ctx := context.Background()
	var c storeContents
	var err error
	c.Shadow, err = s.LoadShadow(ctx)
	must(t, err)
	c.Pending, err = s.Pending(ctx)
	must(t, err)
	c.Journal, err = s.Journal(ctx, JournalFilter{Limit: 1000})
	must(t, err)
	c.Runs, err = s.Runs(ctx, 1000)
	must(t, err)
	c.Held, err = s.ListHeld(ctx, HeldFilter{})
	must(t, err)
	c.Jobs, err = s.ImportJobs(ctx, 1000)
	must(t, err)
	c.JobRows = map[int64][]Entry{}
	for _, j := range c.Jobs {
		c.JobRows[j.ID], err = s.ImportJobEntries(ctx, j.ID)
		must(t, err)
	}
	c.Events = map[int64][]HeldEvent{}
	for _, h := range c.Held {
		c.Events[h.ID], err = s.HeldEvents(ctx, h.ID)
		must(t, err)
	}
	return c
}

func checkCopied(t *testing.T, rep *MigrateReport, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if len(rep.Tables) != len(migrateTables) {
		t.Fatalf("report has %d tables, want %d: %+v", len(rep.Tables), len(migrateTables), rep.Tables)
	}
	for _, tc := range rep.Tables {
		if tc.Source == 0 || tc.Source != tc.Target {
			t.Errorf("%s: %d → %d (want the populated rows on both sides)", tc.Table, tc.Source, tc.Target)
		}
	}
	if len(rep.SourceChecksum) != 64 || rep.SourceChecksum != rep.TargetChecksum {
		t.Errorf("checksums %q, %q", rep.SourceChecksum, rep.TargetChecksum)
	}
}

func TestMigrateSQLiteToPostgresAndBackKeepsEverything(t *testing.T) {
	ctx := context.Background()
	src, _ := openTemp(t)
	populate(t, src)
	want := contentsOf(t, src)
	if len(want.Pending) != 2 || len(want.Shadow.Members) != 6 || len(want.Held) != 2 || len(want.Jobs) != 1 || len(want.JobRows[want.Jobs[0].ID]) != 1 {
		t.Fatalf("populate: %d pending, %d members, %d held, jobs %+v", len(want.Pending), len(want.Shadow.Members), len(want.Held), want.Jobs)
	}
	wantSum, err := src.ShadowChecksum(ctx)
	must(t, err)

	pg := openPostgresTemp(t)
	rep, err := Migrate(ctx, src, pg, false)
	checkCopied(t, rep, err)
	back, _ := openTemp(t)
	rep2, err := Migrate(ctx, pg, back, false)
	checkCopied(t, rep2, err)

	for _, s := range []*Store{pg, back} {
		t.Run(s.Driver(), func(t *testing.T) {
			if got := contentsOf(t, s); !reflect.DeepEqual(got, want) {
				t.Errorf("contents differ from the source's\n got %+v\nwant %+v", got, want)
			}
			if sum, err := s.ShadowChecksum(ctx); err != nil || sum != wantSum {
				t.Errorf("ShadowChecksum = %q, %v; want %q", sum, err, wantSum)
			}
			// New rows take ids after the copied ones.
			s.SetClock(func() time.Time { return migrateClock.Add(time.Hour) })
			run, err := s.StartRun(ctx)
			must(t, err)
			if run != want.Runs[0].ID+1 {
				t.Errorf("new run id %d, want %d", run, want.Runs[0].ID+1)
			}
			entry, err := s.Begin(ctx, run, "user_create", "user099", nil, migratePerson(99))
			must(t, err)
			if entry != want.Journal[0].ID+1 {
				t.Errorf("new journal id %d, want %d", entry, want.Journal[0].ID+1)
			}
			must(t, s.Hold(ctx, run, []HeldChange{{Op: "department_delete", Object: "总部/旧", Reason: "r", Fingerprint: "fp"}}))
			hs, err := s.ListHeld(ctx, HeldFilter{Op: "department_delete"})
			must(t, err)
			if len(hs) != 1 || hs[0].ID != want.Held[len(want.Held)-1].ID+1 {
				t.Errorf("new held row %+v, want id %d", hs, want.Held[len(want.Held)-1].ID+1)
			}
			job, err := s.RecordImportJob(ctx, run, "jobid_new", []int64{entry})
			must(t, err)
			if job != want.Jobs[0].ID+1 {
				t.Errorf("new import job id %d, want %d", job, want.Jobs[0].ID+1)
			}
		})
	}
}

func TestMigrateRefusesANonEmptyTargetAndLeavesItAsItWas(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		src, _ := openTemp(t)
		populate(t, src)
		for _, tc := range []struct {
			name   string
			fill   func(t *testing.T, s *Store)
			table  string
			dryRun bool
		}{
			{name: "a member", table: "members", fill: func(t *testing.T, s *Store) {
				must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: migratePerson(50)}}))
			}},
			{name: "a run and nothing else", table: "runs", fill: func(t *testing.T, s *Store) {
				_, err := s.StartRun(ctx)
				must(t, err)
			}},
			{name: "a held change, in a dry run too", table: "held", dryRun: true, fill: func(t *testing.T, s *Store) {
				must(t, s.Hold(ctx, 1, []HeldChange{heldMove}))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dst := open(t)
				tc.fill(t, dst)
				before := contentsOf(t, dst)
				_, err := Migrate(ctx, src, dst, tc.dryRun)
				var ne *TargetNotEmptyError
				if !errors.As(err, &ne) || ne.Counts[tc.table] == 0 {
					t.Fatalf("Migrate onto a store with %s: %v, want a TargetNotEmptyError naming %s", tc.name, err, tc.table)
				}
				if !strings.Contains(err.Error(), "merge two histories") || !strings.Contains(err.Error(), tc.table) {
					t.Errorf("message: %v", err)
				}
				if after := contentsOf(t, dst); !reflect.DeepEqual(after, before) {
					t.Errorf("the target changed:\nbefore %+v\n after %+v", before, after)
				}
			})
		}
	})
}

func TestMigrateDryRunCountsAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		src, _ := openTemp(t)
		populate(t, src)
		dst := open(t)
		rep, err := Migrate(ctx, src, dst, true)
		must(t, err)
		if !rep.DryRun || rep.TargetChecksum != "" {
			t.Errorf("report %+v", rep)
		}
		for _, tc := range rep.Tables {
			if tc.Source == 0 || tc.Target != 0 {
				t.Errorf("%s: source %d, target %d", tc.Table, tc.Source, tc.Target)
			}
		}
		for _, tbl := range migrateTables {
			if n, err := countRows(ctx, dst.db, tbl.name); err != nil || n != 0 {
				t.Errorf("%s in the target after a dry run: %d, %v", tbl.name, n, err)
			}
		}
	})
}

func TestMigrateDryRunIntoAStoreNotYetMadeCountsTheSource(t *testing.T) {
	ctx := context.Background()
	src, _ := openTemp(t)
	populate(t, src)
	rep, err := Migrate(ctx, src, nil, true)
	must(t, err)
	if want, _ := src.ShadowChecksum(ctx); rep.SourceChecksum != want || rep.To != "" {
		t.Errorf("report %+v, want source checksum %s", rep, want)
	}
	for _, tc := range rep.Tables {
		if tc.Source == 0 || tc.Target != 0 {
			t.Errorf("%s: source %d, target %d", tc.Table, tc.Source, tc.Target)
		}
	}
	if _, err := Migrate(ctx, src, nil, false); err == nil {
		t.Error("a migration with no target: no error")
	}
}

func TestMigrateRefusesStoresWithDifferentColumns(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		src, _ := openTemp(t)
		populate(t, src)
		if _, err := src.db.Exec(`ALTER TABLE runs ADD COLUMN epoch INTEGER`); err != nil {
			t.Fatal(err)
		}
		dst := open(t)
		_, err := Migrate(ctx, src, dst, false)
		if err == nil || !strings.Contains(err.Error(), "runs") || !strings.Contains(err.Error(), "epoch") {
			t.Fatalf("Migrate between different schemas: %v", err)
		}
		if n, err := countRows(ctx, dst.db, "members"); err != nil || n != 0 {
			t.Errorf("members in the target: %d, %v", n, err)
		}
	})
}

// TestMigrateCopiesEveryTableOfTheSchema fails when a migration adds a
// table that Migrate neither copies nor knowingly skips.
func TestMigrateCopiesEveryTableOfTheSchema(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		q := `SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'`
		if s.Driver() == "postgres" {
			q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`
		}
		rows, err := s.db.QueryContext(context.Background(), q)
		must(t, err)
		defer rows.Close()
		var seen int
		for rows.Next() {
			var name string
			must(t, rows.Scan(&name))
			seen++
			copied := slices.ContainsFunc(migrateTables, func(m migrateTable) bool { return m.name == name })
			if !copied && !slices.Contains(migrateSkipped, name) {
				t.Errorf("table %s is neither in migrateTables nor in migrateSkipped", name)
			}
		}
		must(t, rows.Err())
		if seen < len(migrateTables) {
			t.Errorf("the schema has %d tables, fewer than the %d copied", seen, len(migrateTables))
		}
	})
}

func TestShadowChecksumChangesWithTheShadowOnly(t *testing.T) {
	ctx := context.Background()
	base := func(t *testing.T, s *Store) {
		must(t, s.Apply(ctx, Mutation{PutDept: &Dept{Department: model.Department{Key: "总部", Name: "总部", ID: 1}}}))
		for i := 1; i <= 3; i++ {
			must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: migratePerson(i)}}))
		}
	}
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, s *Store)
		same bool
	}{
		{name: "the same shadow written later", same: true, edit: func(t *testing.T, s *Store) {
			s.SetClock(func() time.Time { return migrateClock.Add(24 * time.Hour) })
			must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: migratePerson(2)}}))
		}},
		{name: "a run and its journal", same: true, edit: func(t *testing.T, s *Store) {
			run, err := s.StartRun(ctx)
			must(t, err)
			_, err = s.Begin(ctx, run, "user_create", "user009", nil, migratePerson(9))
			must(t, err)
		}},
		{name: "a member adopted", edit: func(t *testing.T, s *Store) {
			must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: migratePerson(2), Adopted: true}}))
		}},
		{name: "a member disabled", edit: func(t *testing.T, s *Store) {
			must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: migratePerson(2), DisabledAt: migrateClock}}))
		}},
		{name: "a member's data", edit: func(t *testing.T, s *Store) {
			p := migratePerson(2)
			p.Name = "改名"
			must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: p}}))
		}},
		{name: "a member more", edit: func(t *testing.T, s *Store) {
			must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: migratePerson(4)}}))
		}},
		{name: "a member forgotten", edit: func(t *testing.T, s *Store) {
			must(t, s.Apply(ctx, Mutation{DeleteMember: "user003"}))
		}},
		{name: "a department's id", edit: func(t *testing.T, s *Store) {
			must(t, s.Apply(ctx, Mutation{PutDept: &Dept{Department: model.Department{Key: "总部", Name: "总部", ID: 2}}}))
		}},
		{name: "a department adopted", edit: func(t *testing.T, s *Store) {
			must(t, s.Apply(ctx, Mutation{PutDept: &Dept{Department: model.Department{Key: "总部", Name: "总部", ID: 1}, Adopted: true}}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := openTemp(t)
			b, _ := openTemp(t)
			base(t, a)
			base(t, b)
			tc.edit(t, b)
			sa, err := a.ShadowChecksum(ctx)
			must(t, err)
			sb, err := b.ShadowChecksum(ctx)
			must(t, err)
			if (sa == sb) != tc.same {
				t.Errorf("checksums %s and %s; want equal: %v", sa, sb, tc.same)
			}
		})
	}
}

// A shadow keyed by text that a locale would sort differently from its
// bytes checksums the same on both drivers.
func TestShadowChecksumIsTheSameOnBothDrivers(t *testing.T) {
	ctx := context.Background()
	var sums []string
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		for i, id := range []string{"b", "B_x", "a-1", "a1", "张三", "Zed", "_z"} {
			p := migratePerson(1)
			p.UserID, p.Key = id, "k"+id
			must(t, s.Apply(ctx, Mutation{PutMember: &Member{Person: p}}))
			must(t, s.Apply(ctx, Mutation{PutDept: &Dept{Department: model.Department{Key: "总部/" + id, Name: id, ID: i + 1}}}))
		}
		sum, err := s.ShadowChecksum(ctx)
		must(t, err)
		sums = append(sums, sum)
	})
	if len(sums) == 2 && sums[0] != sums[1] {
		t.Fatalf("sqlite %s, postgres %s", sums[0], sums[1])
	}
}

// migrateMembers sizes BenchmarkMigrateSQLiteToPostgres (-migrate.members
// 1000000 for the 1M shadow).
var migrateMembers = flag.Int("migrate.members", 100_000, "members (and journal entries) in BenchmarkMigrateSQLiteToPostgres's store")

// BenchmarkMigrateSQLiteToPostgres measures migrating a shadow of
// -migrate.members members with a journal entry per member. Its peak RSS
// is the streaming claim: run the test binary under /usr/bin/time -v.
func BenchmarkMigrateSQLiteToPostgres(b *testing.B) {
	ctx := context.Background()
	if _, err := testservers.PostgresBinDir(); err != nil {
		b.Skip(err)
	}
	pg, err := sharedPostgres()
	if err != nil {
		b.Fatal(err)
	}
	src, err := Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	n := int64(*migrateMembers)
	tx, err := src.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := int64(0); i < n; i++ {
		p := model.Person{Key: fmt.Sprintf("E%07d", i), UserID: fmt.Sprintf("user%07d", i), Name: fmt.Sprintf("员工%d", i),
			Mobile: fmt.Sprintf("1380%07d", i), Email: fmt.Sprintf("user%07d@example.com", i), Position: "工程师",
			Departments: []string{fmt.Sprintf("总部/部门%03d", i%200)}, Enabled: true}
		if err := src.apply(ctx, tx, Mutation{PutMember: &Member{Person: p}}); err != nil {
			b.Fatal(err)
		}
		data, _ := json.Marshal(p)
		if _, err := tx.ExecContext(ctx, `INSERT INTO journal(run_id, op, object, after, status, started_at) VALUES(1, 'user_create', ?, ?, 'done', 0)`, p.UserID, string(data)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dsn, err := pg.NewDatabase()
		if err != nil {
			b.Fatal(err)
		}
		dst, err := OpenPostgres(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := Migrate(ctx, src, dst, false)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Tables[0].Target != n {
			b.Fatalf("copied %d members", rep.Tables[0].Target)
		}
		b.StopTimer()
		dst.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "members/s")
}
