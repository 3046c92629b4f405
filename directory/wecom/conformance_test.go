package wecom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/conformance"
	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/plan"
)

// TestConformance runs the directory conformance suite against the WeCom
// emulator over HTTP on loopback, in both read modes: restricted reads
// (a Contacts-Sync secret from a new IP: list_id and simplelist only) and
// full reads (department names readable too).
func TestConformance(t *testing.T) {
	for _, mode := range []struct {
		name       string
		restricted bool
	}{
		{"restricted reads", true},
		{"full reads", false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			var seed atomic.Int64
			conformance.Run(t, conformance.Harness{
				RootID: 1,
				New: func(t *testing.T, o conformance.Options) (directory.Directory, conformance.Controls) {
					return newConformanceServer(t, mode.restricted, seed.Add(1), o)
				},
			})
		})
	}
}

const (
	confCorp   = "wwconformance0002"
	confSecret = "conformance-secret-5e4d3c2b1a"
	// confRateLimit is the emulator's per-API limit per window in the
	// rate-limited variant.
	confRateLimit = 10
)

// confFaults is the stretch of transient faults Controls.Faults turns on:
// a write applied and its answer lost, a connection dropped before the
// call, system busy (-1). The client retries each call up to 3 times.
var confFaults = emulator.Faults{Rate: 0.35, Kinds: []string{emulator.FaultDropAfter, emulator.FaultDrop, emulator.FaultBusy}}

func newConformanceServer(t *testing.T, restricted bool, seed int64, o conformance.Options) (directory.Directory, conformance.Controls) {
	t.Helper()
	opts := emulator.Options{
		CorpID:          confCorp,
		Secrets:         []emulator.SecretSpec{{Secret: confSecret, Role: emulator.RoleContactsSyncEdit}},
		RestrictedReads: restricted,
		Seed:            seed,
	}
	cfg := client.Config{CorpID: confCorp, Secret: config.Secret(confSecret),
		RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond, Timeout: 5 * time.Second}
	if o.RateLimited {
		// WeCom's 45009 lasts until its minute window ends, and the client
		// waits for the next minute boundary: the emulator and the client
		// share a fake clock that the client's waits move forward, so a
		// window passes in no wall time.
		clk := &confClock{now: time.Date(2026, 3, 2, 9, 0, 10, 0, time.UTC)}
		opts.RateLimitPerMinute, opts.RateLimitWindow, opts.Now = confRateLimit, time.Minute, clk.Now
		cfg.Clock = clk
	}
	emu, err := emulator.New(opts, zap.NewNop())
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	lose := &answerLoser{next: emu}
	srv := httptest.NewServer(lose)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL

	d, err := wecom.New(wecom.Config{Client: cfg, RootDepartmentID: 1, FullReads: !restricted}, zap.NewNop())
	if err != nil {
		t.Fatalf("wecom.New: %v", err)
	}
	// Changes by hand go through a client of their own, as an admin's
	// tool would: they do not count in the directory's Calls.
	handCfg := cfg
	handCfg.Clock = nil
	hand, err := client.New(handCfg, zap.NewNop())
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	ctx := context.Background()
	faultsAtStart := 0
	return d, conformance.Controls{
		Faults: func(on bool) int {
			if on {
				faultsAtStart = sum(emu.Stats().Faults)
				emu.SetFaults(confFaults)
				return 0
			}
			emu.SetFaults(emulator.Faults{})
			return sum(emu.Stats().Faults) - faultsAtStart
		},
		LoseAnswer: lose.arm,
		Throttled: func() int {
			n := 0
			for _, codes := range emu.Stats().Errors {
				n += codes[client.CodeRateLimited]
			}
			return n
		},
		CreateByHand: func(m conformance.Member) error {
			enable := 0
			if m.Enabled {
				enable = 1
			}
			return hand.CreateUser(ctx, client.UserCreate{UserID: m.UserID, Name: m.Name, Mobile: m.Mobile, Email: m.Email,
				Position: m.Position, Department: m.Departments, Enable: client.Ptr(enable)})
		},
		MoveByHand: func(userid string, deptID int) error {
			return hand.UpdateUser(ctx, client.UserUpdate{UserID: userid, Department: client.Ptr([]int{deptID})})
		},
		DeleteByHand: func(userid string) error { return hand.DeleteUser(ctx, userid) },
		State: func() conformance.State {
			snap := emu.State()
			st := conformance.State{Departments: map[int]conformance.Department{}, Members: map[string]conformance.Member{}}
			for _, d := range snap.Departments {
				st.Departments[int(d.ID)] = conformance.Department{ID: int(d.ID), ParentID: int(d.ParentID), Name: d.Name}
			}
			for _, u := range snap.Users {
				depts := make([]int, len(u.Department))
				for i, id := range u.Department {
					depts[i] = int(id)
				}
				st.Members[strings.ToLower(u.UserID)] = conformance.Member{UserID: u.UserID, Name: u.Name, Mobile: u.Mobile,
					Email: u.Email, Position: u.Position, Departments: depts, DirectLeaders: u.DirectLeader, Enabled: u.Enable == 1}
			}
			return st
		},
	}
}

// opAPIs are the WeCom APIs that make each kind of change.
var opAPIs = map[plan.Op][]string{
	plan.OpDeptCreate:  {"department/create"},
	plan.OpDeptUpdate:  {"department/update"},
	plan.OpDeptDelete:  {"department/delete"},
	plan.OpUserCreate:  {"user/create"},
	plan.OpUserUpdate:  {"user/update"},
	plan.OpUserMove:    {"user/update"},
	plan.OpUserEnable:  {"user/update"},
	plan.OpUserDisable: {"user/update"},
	plan.OpUserDelete:  {"user/batchdelete", "user/delete"},
}

// answerLoser serves the emulator and, when armed for a kind of change,
// lets the next call to one of its APIs take effect and then drops the
// connection without an answer, once.
type answerLoser struct {
	next  http.Handler
	mu    sync.Mutex
	armed map[string]bool
	lost  int
}

func (l *answerLoser) arm(op plan.Op) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if op == "" {
		n := l.lost
		l.armed, l.lost = nil, 0
		return n
	}
	l.armed = map[string]bool{}
	for _, api := range opAPIs[op] {
		l.armed[api] = true
	}
	return 0
}

func (l *answerLoser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	hit := l.armed[strings.TrimPrefix(r.URL.Path, "/cgi-bin/")]
	if hit {
		l.armed = nil
		l.lost++
	}
	l.mu.Unlock()
	if !hit {
		l.next.ServeHTTP(w, r)
		return
	}
	l.next.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer goes nowhere
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// confClock is a fake clock for the emulator (Options.Now) and the client
// (Config.Clock): time stands still until a caller sleeps, and a sleep of
// d moves it forward by d at once. Concurrent sleepers of one window each
// move it, so it may overshoot by a few windows; the client only ever
// sleeps to the end of a window, which that passes.
type confClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *confClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *confClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(max(d, 0))
	return nil
}
