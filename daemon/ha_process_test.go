package daemon_test

// High availability, proven with real processes: two `orgsync daemon`s on
// one real PostgreSQL (started by the test from Debian's packages), one
// WeCom emulator, each daemon reaching it through a server of its own so
// the test knows who called. The leader is killed with SIGKILL during an
// apply, paused with SIGSTOP past its lease, and the database is
// restarted under a run.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/testservers"
)

// haLease is the lease the tests run with: the shortest the config takes.
const haLease = 3 * time.Second

// haCluster is one emulator and one database shared by daemons.
type haCluster struct {
	t    *testing.T
	base *env
	pg   *testservers.Postgres
	dsn  string

	mu      sync.Mutex
	creates map[string][]string // userid → the daemons that sent user/create for it
	writes  map[string]int      // daemon → write calls
}

func newHACluster(t *testing.T, people int) *haCluster {
	t.Helper()
	pg := testservers.StartPostgres(t)
	dsn, err := pg.NewDatabase()
	must(t, err)
	e := newEnv(t, people)
	e.concurrency = 1
	return &haCluster{t: t, base: e, pg: pg, dsn: dsn, creates: map[string][]string{}, writes: map[string]int{}}
}

// daemon makes the env of one daemon named name: its own listen address,
// config file and way to WeCom; the same data, emulator and database.
func (c *haCluster) daemon(name string) *env {
	e := c.base
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(e.latency.Load()); d > 0 && strings.HasPrefix(r.URL.Path, "/cgi-bin/user/") {
			time.Sleep(d)
		}
		if r.Method == http.MethodPost && !strings.HasSuffix(r.URL.Path, "/gettoken") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			c.mu.Lock()
			c.writes[name]++
			if strings.HasSuffix(r.URL.Path, "/user/create") {
				var u struct{ UserID string }
				_ = json.Unmarshal(body, &u)
				c.creates[u.UserID] = append(c.creates[u.UserID], name)
			}
			c.mu.Unlock()
		}
		e.emu.ServeHTTP(w, r)
	}))
	c.t.Cleanup(srv.Close)
	d := &env{t: e.t, dir: e.dir, emu: e.emu, url: srv.URL, listen: freeAddr(c.t), people: e.people, concurrency: e.concurrency,
		cfgName: name + ".yaml", schedule: e.schedule}
	d.state = fmt.Sprintf("state: {driver: postgres, dsn: %q}\nha: {enabled: true, lease: %s, name: %s, advertise_url: \"http://%s\"}", c.dsn, haLease, name, d.listen)
	return d
}

func (c *haCluster) writesBy(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[name]
}

// db opens the shared database for the test's own checks.
func (c *haCluster) db() *sql.DB {
	db, err := sql.Open("pgx", c.dsn)
	must(c.t, err)
	c.t.Cleanup(func() { db.Close() })
	return db
}

// checkConverged: WeCom has every person, no member was created twice
// (a second user/create for one userid), and each create is in the
// journal once as done or resolved.
func (c *haCluster) checkConverged() {
	t := c.t
	t.Helper()
	if n := c.base.users(); n != c.base.people {
		t.Fatalf("WeCom has %d members, want %d", n, c.base.people)
	}
	c.mu.Lock()
	for uid, by := range c.creates {
		if len(by) > 1 {
			t.Errorf("user/create for %s was sent %d times (by %v)", uid, len(by), by)
		}
	}
	c.mu.Unlock()
	db := c.db()
	var dup string
	err := db.QueryRow(`SELECT object FROM journal WHERE op='user_create' AND status IN ('done','resolved') GROUP BY object HAVING count(*) > 1 LIMIT 1`).Scan(&dup)
	if err != sql.ErrNoRows {
		t.Errorf("a create audited twice: %q (%v)", dup, err)
	}
	var audited int
	must(t, db.QueryRow(`SELECT count(DISTINCT object) FROM journal WHERE op='user_create' AND status IN ('done','resolved')`).Scan(&audited))
	if audited != c.base.people {
		t.Errorf("%d creates audited, want %d", audited, c.base.people)
	}
	var pending int
	must(t, db.QueryRow(`SELECT count(*) FROM journal WHERE status IN ('pending','uncertain')`).Scan(&pending))
	if pending != 0 {
		t.Errorf("%d journal entries still pending", pending)
	}
}

func (p *proc) role() (string, string) {
	st := p.status()
	if st.HA == nil {
		return st.Role, ""
	}
	holder := ""
	if st.HA.Leader != nil && st.HA.Leader.Live {
		holder = st.HA.Leader.Holder
	}
	return st.Role, holder
}

func (p *proc) waitRole(role string, d time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	p.waitFor("role "+role, d, func() bool { r, _ := p.role(); return r == role })
	return time.Since(start)
}

func (p *proc) kill9() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	<-p.done
}

// startPair starts daemon a, then b once a leads, with people to create
// and latency on every WeCom member call.
func startPair(t *testing.T, people int, latency time.Duration) (c *haCluster, ea, eb *env, a, b *proc) {
	t.Helper()
	c = newHACluster(t, people)
	c.base.latency.Store(int64(latency))
	ea, eb = c.daemon("a"), c.daemon("b")
	a = ea.start()
	a.waitRole("leader", 2*haLease)
	b = eb.start()
	b.waitRole("standby", 2*haLease)
	return c, ea, eb, a, b
}

// waitSucceeded waits for a run of p's to succeed.
func (p *proc) waitSucceeded(what string, d time.Duration) {
	p.t.Helper()
	p.waitFor(what, d, func() bool {
		for _, r := range p.finishedRuns() {
			if r.Status == engine.StatusSucceeded {
				return true
			}
		}
		return false
	})
}

func TestHAOneLeaderAppliesAndAKilledLeaderIsReplacedWithinTheLease(t *testing.T) {
	c, ea, eb, a, b := startPair(t, 60, 60*time.Millisecond)
	if _, holder := b.role(); holder != "a" {
		t.Fatalf("b sees %q leading, want a", holder)
	}

	// A standby does not run syncs: it names the leader.
	code, body := b.post("/v1/sync")
	if code != http.StatusConflict || !strings.Contains(body, `"leader": "a"`) || !strings.Contains(body, ea.listen) {
		t.Fatalf("POST /v1/sync on the standby: %d %s", code, body)
	}
	// orgsync trigger pointed at the standby follows it to the leader.
	out, err := exec.Command(bin, "trigger", "-c", eb.cfgPath()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "asking the leader at http://"+ea.listen) || !strings.Contains(string(out), "run started") {
		t.Fatalf("orgsync trigger at the standby: %v\n%s", err, out)
	}
	a.waitFor("the apply to be under way", 20*time.Second, func() bool { return c.base.users() >= 10 })
	a.kill9()
	killed, before := time.Now(), c.base.users()
	if before >= c.base.people {
		t.Fatalf("the apply finished before the kill (%d members)", before)
	}

	took := b.waitRole("leader", 3*haLease)
	if took > haLease+haLease/3+2*time.Second {
		t.Errorf("the standby took over %v after the kill; the lease is %v", time.Since(killed), haLease)
	}
	// The new leader settles what the old one left and finishes the job
	// at once (a takeover run), not at the next schedule.
	b.waitSucceeded("the takeover run to converge", 30*time.Second)
	if !strings.Contains(b.logs.String(), `"reason":"takeover"`) {
		t.Error("no takeover run in the new leader's log")
	}
	c.checkConverged()
	if c.writesBy("b") == 0 {
		t.Fatal("the standby made no writes after taking over")
	}
	m := b.metrics()
	if value(m, "orgsync_leader") != 1 || value(m, "orgsync_leadership_changes_total") < 1 {
		t.Errorf("b's metrics: leader %v, changes %v", value(m, "orgsync_leader"), value(m, "orgsync_leadership_changes_total"))
	}
	b.stop(10 * time.Second)
}

func TestHAAPausedLeaderWakesFencedWritesNothingAndStandsBy(t *testing.T) {
	c, _, _, a, b := startPair(t, 40, 80*time.Millisecond)
	if code, _ := a.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	a.waitFor("the apply to be under way", 20*time.Second, func() bool { return c.base.users() >= 5 })
	a.signal(syscall.SIGSTOP)
	b.waitRole("leader", 4*haLease)
	b.waitSucceeded("the new leader's run to converge", 30*time.Second)
	c.checkConverged()
	db := c.db()
	count := func() (n int) {
		must(t, db.QueryRow(`SELECT (SELECT count(*) FROM journal) + (SELECT count(*) FROM runs) + (SELECT count(*) FROM journal WHERE finished_at IS NOT NULL)`).Scan(&n))
		return n
	}
	rows, writesA := count(), c.writesBy("a")

	a.signal(syscall.SIGCONT)
	a.waitRole("standby", 3*haLease)
	time.Sleep(haLease) // time for anything the old leader would still do
	if got := count(); got != rows {
		t.Errorf("the woken leader wrote to the state store: %d rows, then %d", rows, got)
	}
	// At most the one call it had in flight when it was stopped.
	if got := c.writesBy("a") - writesA; got > c.base.concurrency {
		t.Errorf("the woken leader made %d WeCom writes", got)
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "no longer the leader") {
		t.Errorf("the woken leader did not say it stepped down")
	}
	if v := value(a.metrics(), "orgsync_fenced_writes_total"); v < 1 && !strings.Contains(logs, "another daemon holds the lease") {
		t.Errorf("the woken leader neither had a write fenced (%v) nor found the lease taken", v)
	}
	if r, holder := a.role(); r != "standby" || holder != "b" {
		t.Fatalf("a: role %q, leader %q", r, holder)
	}
	c.checkConverged()
	a.stop(10 * time.Second)
	b.stop(10 * time.Second)
}

func TestTheDatabaseRestartedDuringARunFailsItCleanlyAndTheNextConverges(t *testing.T) {
	for _, ha := range []bool{false, true} {
		t.Run(fmt.Sprintf("ha=%v", ha), func(t *testing.T) {
			c := newHACluster(t, 40)
			c.base.latency.Store(int64(80 * time.Millisecond))
			e := c.daemon("solo")
			if !ha {
				e.state = fmt.Sprintf("state: {driver: postgres, dsn: %q}", c.dsn)
			}
			p := e.start()
			if ha {
				p.waitRole("leader", 2*haLease)
			}
			if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
				t.Fatalf("trigger: %d", code)
			}
			p.waitFor("the apply to be under way", 20*time.Second, func() bool { return c.base.users() >= 5 })
			must(t, c.pg.Restart(500*time.Millisecond))
			// The run fails at its next write; the daemon says so. The
			// store may not have been able to record it (the database was
			// down): the next run records it as interrupted.
			p.waitFor("the run to fail", 30*time.Second, func() bool {
				st := p.status()
				return st.Running == nil && strings.Contains(st.Summary, " failed at ")
			})
			c.base.latency.Store(0)
			// The daemon is still up and (in HA) still or again the leader;
			// the next run converges.
			p.waitFor("a run to be accepted", 3*haLease, func() bool {
				code, _ := p.postSync(apiToken)
				return code == http.StatusAccepted
			})
			p.waitFor("the next run to converge", 30*time.Second, func() bool {
				st := p.status()
				return st.Running == nil && st.LastRuns[0].Status == engine.StatusSucceeded
			})
			c.checkConverged()
			if first := p.status().LastRuns[1].Status; first != engine.StatusFailed && first != engine.StatusInterrupted {
				t.Errorf("the run under the restart is recorded %q", first)
			}
			p.stop(10 * time.Second)
		})
	}
}

// post sends an authenticated POST and returns the status and body.
func (p *proc) post(path string) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+p.e.listen+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	must(p.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHAAReloadGivesTheLeaseUpAndTakesItAgain(t *testing.T) {
	c := newHACluster(t, 10)
	e := c.daemon("solo")
	p := e.start()
	p.waitRole("leader", 2*haLease)
	before := p.status().HA.Epoch
	p.signal(syscall.SIGHUP)
	p.waitFor("the reload", 10*time.Second, func() bool { return strings.Contains(p.logs.String(), "configuration reloaded") })
	p.waitRole("leader", 2*haLease)
	if after := p.status().HA.Epoch; after <= before {
		t.Fatalf("epoch %d after the reload, %d before: the new store must hold a new epoch", after, before)
	}
	if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger after the reload: %d", code)
	}
	p.waitFor("the run", 20*time.Second, func() bool {
		st := p.status()
		return st.Running == nil && len(st.LastRuns) > 0 && st.LastRuns[0].Status == engine.StatusSucceeded
	})
	c.checkConverged()
	p.stop(10 * time.Second)
}

func TestHAACleanStopHandsOverAtOnceAndTheNewLeaderReportsTheRunsBeforeIt(t *testing.T) {
	c, _, _, a, b := startPair(t, 10, 0)
	if code, _ := a.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	a.waitSucceeded("a's run", 20*time.Second)
	if v := value(b.metrics(), "orgsync_last_success_timestamp_seconds"); v != 0 {
		t.Fatalf("the standby reports a last success (%v) before any run it knew of", v)
	}
	a.stop(10 * time.Second) // resigns: b need not wait out the lease
	took := b.waitRole("leader", 2*haLease)
	if took > haLease {
		t.Errorf("b took over %v after a clean stop; a resigned, so it should be its next try (%v)", took, haLease/3)
	}
	m := b.metrics()
	if value(m, "orgsync_last_success_timestamp_seconds") <= 0 || value(m, "orgsync_last_run_status", "status", "succeeded") != 1 {
		t.Fatalf("the new leader's last-run series do not show a's run: success %v, status %v",
			value(m, "orgsync_last_success_timestamp_seconds"), value(m, "orgsync_last_run_status", "status", "succeeded"))
	}
	c.checkConverged()
	b.stop(10 * time.Second)
}

func TestHAAnUnsetVariableInTheHABlockStopsTheDaemonAtStart(t *testing.T) {
	e := newEnv(t, 1)
	e.state = "state: {driver: postgres, dsn: \"postgres://u:p@127.0.0.1:1/db\"}\nha: {enabled: true, advertise_url: \"http://$ORGSYNC_TEST_UNSET_POD_IP:9469\"}"
	e.writeConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "daemon", "-c", e.cfgPath(), "--log-format", "json").CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "names $ORGSYNC_TEST_UNSET_POD_IP, which is not set") {
		t.Fatalf("exit %v, output:\n%s", err, out)
	}
}
