package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/state"
)

var errKilled = errors.New("process killed (simulated)")

// crashingJournal lets the first `after` journal writes through, then acts
// like a killed process: every later write fails and is not recorded, so
// calls in flight when it "dies" leave pending entries, exactly as kill -9
// between a WeCom call and its journal entry would.
type crashingJournal struct {
	*state.Store
	mu    sync.Mutex
	after int
	n     int
}

func (c *crashingJournal) dead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n > c.after
}

func (c *crashingJournal) Begin(ctx context.Context, run int64, op, obj string, b, a any) (int64, error) {
	if c.dead() {
		return 0, errKilled
	}
	return c.Store.Begin(ctx, run, op, obj, b, a)
}

func (c *crashingJournal) Finish(ctx context.Context, id int64, status string, code int, msg string, mut state.Mutation) error {
	if c.dead() {
		return errKilled
	}
	return c.Store.Finish(ctx, id, status, code, msg, mut)
}

// snapshot is the part of WeCom the tests compare: userid → status and
// departments, department name → parent name.
func snapshot(emu *emulator.Server) string {
	s := emu.State()
	names := map[int64]string{}
	for _, d := range s.Departments {
		names[d.ID] = d.Name
	}
	var out []string
	for _, d := range s.Departments {
		out = append(out, fmt.Sprintf("dept %s<%s", d.Name, names[d.ParentID]))
	}
	for _, u := range s.Users {
		var ds []string
		for _, id := range u.Department {
			ds = append(ds, names[id])
		}
		out = append(out, fmt.Sprintf("user %s %s status=%d %v leader=%v", u.UserID, u.Name, u.Status, ds, u.DirectLeader))
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

// TestAKillAtEveryJournalStepConvergesOnRerun kills a sync after each
// journal write in turn, for a first sync and for a next-day sync, then
// reruns: WeCom must end exactly as after an uninterrupted run, with no
// duplicate create, and the run after that must make no write.
func TestAKillAtEveryJournalStepConvergesOnRerun(t *testing.T) {
	small := func(en *env) {
		en.rows = en.rows[:6]
		en.maxDis = "50%"
	}
	nextDay := func(en *env) {
		en.rows = append(en.rows, row{id: "E100", name: "新人", dept: "D3", mobile: "13900000100", status: "在职", leader: "E001"})
		en.rows[4].dept = "D3"
		en.rows[2].status = "离职"
		en.rows = slices.Delete(en.rows, 3, 4)
		en.depts[1][1] = "技术中心"
	}
	scenarios := []struct {
		name  string
		setup func(en *env) // before the run that is killed
		day2  bool
	}{
		{name: "first sync", setup: func(en *env) {}},
		{name: "next-day sync", setup: func(en *env) { en.mustSync(); nextDay(en) }, day2: true},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			// The reference: the same scenario without a kill.
			ref := newEnv(t, true)
			small(ref)
			sc.setup(ref)
			ref.mustSync()
			want := snapshot(ref.emu)
			steps := killAtEveryStep(t, want, func() *env {
				en := newEnv(t, true)
				small(en)
				sc.setup(en)
				return en
			})
			if steps < 10 {
				t.Fatalf("only %d journal steps exercised", steps)
			}
			t.Logf("killed at each of %d journal steps; every rerun converged", steps)
		})
	}
}

// killAtEveryStep runs a sync that "dies" after each journal write in turn,
// on a fresh env from fresh each time, and checks that the rerun converges
// to want (the uninterrupted result) with no failure, no duplicate create
// and no lost ownership, and that the run after it makes no write. It
// returns how many journal steps an uninterrupted run has.
func killAtEveryStep(t *testing.T, want string, fresh func() *env) int {
	t.Helper()
	for kill := 0; ; kill++ {
		en := fresh()
		e := en.open()
		cj := &crashingJournal{after: kill}
		e.wrapJournal = func(s *state.Store) directory.Journal { cj.Store = s; return cj }
		_, err := e.RunOnce(context.Background(), Options{})
		if err == nil {
			if got := snapshot(en.emu); got != want {
				t.Fatalf("uninterrupted run differs from reference:\n got %s\nwant %s", got, want)
			}
			return kill
		}
		if !errors.Is(err, errKilled) {
			t.Fatalf("kill after %d: unexpected error %v", kill, err)
		}
		// Restart: a new process on the same state and WeCom.
		rep2, err := en.sync(Options{})
		if err != nil {
			t.Fatalf("kill after %d: rerun failed: %v (%+v)", kill, err, rep2.Failures)
		}
		if got := snapshot(en.emu); got != want {
			t.Fatalf("kill after %d: rerun did not converge:\n got %s\nwant %s", kill, got, want)
		}
		for _, f := range rep2.Failures {
			t.Fatalf("kill after %d: rerun had failures: %+v", kill, f)
		}
		if errs := en.emu.Stats().Errors["user/create"][60102]; errs != 0 {
			t.Fatalf("kill after %d: %d duplicate creates reached WeCom", kill, errs)
		}
		if rep2.Unowned != 0 {
			t.Fatalf("kill after %d: %d members in WeCom lost their ownership", kill, rep2.Unowned)
		}
		writes := en.emu.Stats().Writes
		rep3 := en.mustSync()
		if w := en.emu.Stats().Writes - writes; w != 0 {
			t.Fatalf("kill after %d: the run after convergence made %d writes: %v", kill, w, rep3.Changes)
		}
		if kill > 200 {
			t.Fatal("too many journal steps")
		}
	}
}
