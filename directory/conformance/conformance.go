// Package conformance is the test suite every Directory implementation runs
// against its own test server (as dex's storage/conformance does for
// storages): it states the Directory contract as tests, driving the
// directory only the way the engine does — Load → plan.Calculate → Apply
// with a real state store as the journal → Load again and compare.
//
// Between runs the suite settles what a run left pending or uncertain from
// the next Load, as the engine does (engine.settlePending); see
// world.settle.
//
// The cases: Check; a first sync (a three-level tree top-down, members
// with direct leaders listed before them) and a quiet second night with
// zero calls; a lifecycle of update, move, two kinds of department rename,
// disable, rehire, delete past delete_after and departments deleted
// bottom-up; drift put back (moved or deleted by hand); Load under faults;
// convergence within two runs under random lost answers, dropped
// connections and busy errors; journal and result truthfulness under
// those, and under one lost answer to each kind of change; a rate-limited
// sync; adoption by mobile; and Stop before and during an apply.
//
// A new directory (Feishu/Lark, DingTalk, SCIM) is added by writing its
// client and a Harness for its test server, and running Run in both of the
// server's read modes where it has them.
package conformance

import (
	"testing"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/plan"
)

// Harness adapts one Directory implementation to the suite.
type Harness struct {
	// New returns a fresh Directory pointed at a fresh test server that
	// holds only the managed root department (RootID), and the controls
	// over that server. Everything must listen on 127.0.0.1 and be torn
	// down by t.Cleanup.
	New func(t *testing.T, o Options) (directory.Directory, Controls)
	// RootID is the id of the managed root department (WeCom: 1).
	RootID int
}

// Options ask for a test server set up for one case.
type Options struct {
	// RateLimited asks for a server that allows only a handful of calls per
	// API per window (at most 10; the suite's rate-limit case makes 40
	// creates) and answers the directory's rate-limit error beyond that,
	// until the window ends. The harness may run the server and the
	// directory's client on a shared fake clock so that waiting out a
	// window takes no wall time; the case must finish within 10 s.
	RateLimited bool
}

// Controls act on the test server behind the Directory's back.
type Controls struct {
	// Faults starts (true) or ends (false) a stretch of transient faults on
	// every call the server answers: answers lost after the write was
	// applied, connections dropped before it, busy errors — what a retried,
	// idempotent client must survive. The stretch must be survivable: a
	// call retried a few times succeeds most of the time, and every fault
	// leaves a retried or re-planned change able to succeed. Faults(false)
	// returns how many faults the server injected during the stretch.
	Faults func(on bool) int
	// LoseAnswer arranges for the next call that makes a change of kind
	// op to be applied and its answer lost (the connection dropped after
	// the write), once; later calls are answered normally. LoseAnswer("")
	// disarms it and returns how many answers were lost since it was armed.
	LoseAnswer func(op plan.Op) int
	// Throttled returns how many calls the server has refused for its
	// rate limit so far.
	Throttled func() int
	// CreateByHand makes a member as an administrator would in the
	// directory's own console.
	CreateByHand func(m Member) error
	// MoveByHand puts a member in exactly one department, by id.
	MoveByHand func(userid string, deptID int) error
	// DeleteByHand deletes a member.
	DeleteByHand func(userid string) error
	// State, if set, reads the server's own state without going through
	// the Directory (fields Load cannot see: names under restricted reads,
	// mobiles, direct leaders, enabled). Nil: those checks are skipped.
	State func() State
}

// Member is a member as the test server holds it.
type Member struct {
	UserID        string
	Name          string
	Mobile        string
	Email         string
	Position      string
	Departments   []int
	DirectLeaders []string
	Enabled       bool
}

// Department is a department as the test server holds it.
type Department struct {
	ID, ParentID int
	Name         string
}

// State is the whole test server: departments by id, members by
// model.UserIDKey.
type State struct {
	Departments map[int]Department
	Members     map[string]Member
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("conformance: Harness.New is required")
	}
	if h.RootID == 0 {
		h.RootID = 1
	}
	t.Run("Check describes a good server", func(t *testing.T) { testCheck(t, h) })
	t.Run("a first sync creates departments top-down and members with their leaders, and a second plans nothing and calls nothing", func(t *testing.T) {
		testFirstSync(t, h)
	})
	t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, h) })
	t.Run("drift put back", func(t *testing.T) { testDrift(t, h) })
	t.Run("Load under faults returns the whole directory or an error, never a part", func(t *testing.T) { testLoadUnderFaults(t, h) })
	t.Run("idempotent retries", func(t *testing.T) { testRetries(t, h) })
	t.Run("an apply whose answers are lost journals no write that happened as failed", func(t *testing.T) {
		testUncertain(t, h)
	})
	t.Run("lost answers", func(t *testing.T) { testLostAnswer(t, h) })
	t.Run("a sync of 40 creates under a low rate limit waits out the windows and fails nothing", func(t *testing.T) {
		testRateLimit(t, h)
	})
	t.Run("adopt", func(t *testing.T) { testAdopt(t, h) })
	t.Run("stop", func(t *testing.T) { testStop(t, h) })
}
