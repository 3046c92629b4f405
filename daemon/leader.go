package daemon

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/state"
)

// ReasonTakeover is the run a new leader starts at once when the old one
// left journal entries pending or a run unfinished.
const ReasonTakeover = "takeover"

// election is this daemon's part in the HA leader election (ha.enabled).
// The lease lives in the state database (state.Acquire, Renew): the
// leader renews it every lease/3; a standby tries to take it as often,
// and gets it once the leader has not renewed for a whole lease (killed,
// paused, cut off) or has resigned (a clean stop). Only the leader runs
// syncs; every write the store makes checks the epoch the run began with,
// so a leader that lost the lease cannot write even before it notices.
type election struct {
	lease time.Duration
	every time.Duration

	leading atomic.Bool
	mu      sync.Mutex
	seen    state.Leader // the lease as last read
	since   time.Time    // leading since
	renewed time.Time    // when the last renewal that succeeded began
	cancel  context.CancelFunc
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}
}

func newElection(lease time.Duration) *election {
	return &election{lease: lease, every: lease / 3, stop: make(chan struct{}), done: make(chan struct{})}
}

// startElection runs the election until stopElection.
func (d *Daemon) startElection(ctx context.Context) {
	go func() {
		defer close(d.ha.done)
		t := time.NewTicker(d.ha.every)
		defer t.Stop()
		for {
			d.electOnce(ctx)
			select {
			case <-d.ha.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// stopElection ends the election and, if this daemon leads, resigns, so
// a standby takes over at its next try rather than after a lease.
func (d *Daemon) stopElection() {
	if d.ha == nil {
		return
	}
	d.ha.stopped.Do(func() { close(d.ha.stop) })
	<-d.ha.done
	d.resign("stopping")
}

// resignForReload gives the lease up before a reload closes the store
// (the new store starts with no epoch); the reload then tries to lead
// again at once.
func (d *Daemon) resignForReload() { d.resign("reloading the configuration") }

func (d *Daemon) resign(why string) {
	if !d.ha.leading.Load() {
		return
	}
	d.engMu.RLock()
	st := d.store()
	d.engMu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.Resign(ctx); err != nil {
		d.log.Warn("could not give up the leader lease; a standby takes over when it runs out", zap.Error(err))
	}
	d.ha.leading.Store(false)
	d.metrics.SetLeader(false, true)
	d.log.Info("gave up the leader lease", zap.String("why", why))
}

func (d *Daemon) electOnce(ctx context.Context) {
	e := d.ha
	d.engMu.RLock()
	st := d.store()
	d.engMu.RUnlock()
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.every)
	defer cancel()
	if e.leading.Load() {
		start := time.Now()
		err := st.Renew(ctx, e.lease)
		switch {
		case err == nil:
			e.mu.Lock()
			e.renewed = start
			e.mu.Unlock()
		case errors.Is(err, state.ErrNotLeader):
			d.stepDown("another daemon holds the lease now (this one was paused or cut off for longer than the lease)")
		default:
			e.mu.Lock()
			since := e.renewed
			e.mu.Unlock()
			// The lease may run out a whole lease after the last renewal
			// began; stop before a standby can take it.
			if time.Since(since) >= e.lease-e.every/2 {
				d.stepDown("the lease could not be renewed in time: " + err.Error())
			} else {
				d.log.Warn("could not renew the leader lease; still leading until it may have run out", zap.Error(err),
					zap.Duration("left", e.lease-time.Since(since)))
			}
		}
		return
	}
	ok, l, err := st.Acquire(ctx, e.lease)
	if err != nil {
		d.log.Warn("could not read or take the leader lease", zap.Error(err))
		return
	}
	e.mu.Lock()
	prev := e.seen
	e.seen = l
	e.mu.Unlock()
	if !ok {
		if l.Holder != prev.Holder || l.Epoch != prev.Epoch {
			d.log.Info("standing by", zap.String("leader", l.Holder), zap.Int64("epoch", l.Epoch), zap.Bool("lease_live", l.Live), zap.Time("lease_expires", l.Expires))
			d.setStatus("standby; leader " + orNone(l.Holder))
		}
		return
	}
	e.mu.Lock()
	e.since, e.renewed = time.Now(), time.Now()
	e.mu.Unlock()
	e.leading.Store(true)
	d.metrics.SetLeader(true, true)
	d.log.Info("became the leader", zap.Int64("epoch", l.Epoch), zap.String("previous", prev.Holder), zap.Duration("lease", e.lease))
	d.setStatus("leader (epoch " + strconv.FormatInt(l.Epoch, 10) + "); " + d.nextText())
	d.restoreMetrics(ctx, st) // another daemon's runs since this one started are its last runs now
	// What the previous leader left (journal entries pending, a run
	// marked running) is settled by a run now, not at the next schedule.
	pend, perr := st.Pending(ctx)
	runs, rerr := st.RunningRuns(ctx)
	if perr == nil && rerr == nil && len(pend)+len(runs) == 0 {
		return
	}
	d.log.Info("the previous leader left work unfinished; running now to settle it", zap.Int("pending_changes", len(pend)), zap.Int("unfinished_runs", len(runs)))
	if d.sched != nil {
		_ = d.sched.Trigger(ReasonTakeover)
	}
}

// stepDown stops leading at once: the store forgets its epoch (every
// write after it is fenced) and the run in flight is cancelled.
func (d *Daemon) stepDown(why string) {
	e := d.ha
	if !e.leading.Swap(false) {
		return
	}
	d.engMu.RLock()
	if st := d.store(); st != nil {
		st.StepDown()
	}
	d.engMu.RUnlock()
	e.mu.Lock()
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.metrics.SetLeader(false, true)
	d.log.Warn("no longer the leader; standing by", zap.String("why", why))
	d.setStatus("standby (" + why + ")")
}

// leads says whether this daemon may run syncs: always without HA.
func (d *Daemon) leads() bool { return d.ha == nil || d.ha.leading.Load() }

// runContext is the context of a run: cancelled if the daemon stops
// leading while it runs.
func (d *Daemon) runContext(ctx context.Context) (context.Context, func()) {
	if d.ha == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	d.ha.mu.Lock()
	d.ha.cancel = cancel
	d.ha.mu.Unlock()
	return ctx, func() {
		d.ha.mu.Lock()
		d.ha.cancel = nil
		d.ha.mu.Unlock()
		cancel()
	}
}

// HAStatus is /v1/status's ha part.
type HAStatus struct {
	Role          string        `json:"role"` // leader or standby
	Name          string        `json:"name"`
	LeadingSince  *time.Time    `json:"leading_since,omitempty"`
	Leader        *state.Leader `json:"leader,omitempty"` // the lease as the database has it
	Lease         string        `json:"lease"`
	FencedWrites  int64         `json:"fenced_writes"`
	Epoch         int64         `json:"epoch,omitempty"`
	LeaderURL     string        `json:"leader_url,omitempty"`
	LeaderUnknown string        `json:"leader_unknown,omitempty"`
}

func (d *Daemon) haStatus(ctx context.Context, st *state.Store) *HAStatus {
	if d.ha == nil || st == nil {
		return nil
	}
	e := d.ha
	h := &HAStatus{Role: "standby", Name: st.Name(), Lease: e.lease.String(), FencedWrites: st.FencedWrites()}
	if e.leading.Load() {
		h.Role = "leader"
		h.Epoch = st.Epoch()
		e.mu.Lock()
		h.LeadingSince = timePtr(e.since)
		e.mu.Unlock()
	}
	l, err := st.Leader(ctx)
	if err != nil {
		h.LeaderUnknown = err.Error()
		return h
	}
	h.Leader, h.LeaderURL = &l, l.URL
	return h
}

// refuseOnStandby answers a write request a standby must not serve
// (POST /v1/sync, held decisions) with 409 naming the leader; it reports
// whether it did.
func (d *Daemon) refuseOnStandby(w http.ResponseWriter, r *http.Request) bool {
	if d.leads() {
		return false
	}
	l := d.currentLeader(r.Context())
	if l.URL != "" {
		w.Header().Set("X-Orgsync-Leader-URL", l.URL)
	}
	writeJSON(w, http.StatusConflict, map[string]string{
		"error":      "this daemon is a standby: only the leader (" + orNone(l.Holder) + ") runs syncs and takes decisions; send " + r.Method + " " + r.URL.Path + " to it",
		"role":       "standby",
		"leader":     l.Holder,
		"leader_url": l.URL,
	})
	return true
}

// currentLeader is the lease as the store holds it now, the answer
// /v1/status gives too; the lease as the election loop last read it when
// the store can't be read. (The loop reads it every lease/3: a standby
// asked right after it started would otherwise name no leader while its
// status names one.)
func (d *Daemon) currentLeader(ctx context.Context) state.Leader {
	if st := d.store(); st != nil {
		if l, err := st.Leader(ctx); err == nil {
			return l
		}
	}
	d.ha.mu.Lock()
	defer d.ha.mu.Unlock()
	return d.ha.seen
}

func orNone(s string) string {
	if s == "" {
		return "none yet"
	}
	return s
}
