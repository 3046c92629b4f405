package daemon

import (
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/scheduler"
)

// Endpoints (documented in `orgsync daemon --help`):
//
//	GET  /healthz        200 while the process serves
//	GET  /readyz         200 when config is loaded and the state store open; 503 otherwise
//	GET  /metrics        Prometheus exposition
//	GET  /v1/status      JSON: running, next run, last runs, held changes (token if configured)
//	GET  /v1/runs/{id}   the stored report of one run (token if configured)
//	POST /v1/sync        start a run now (token required); ?wait=true waits and returns the report
//	/v1/held...          the held queue: list, show, approve, reject (see heldRoutes)
//	/ui/                 the review page (see uiRoutes)
func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case d.stopping.Load():
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		case !d.ready.Load():
			http.Error(w, "not ready: loading configuration or reopening the state store", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ready\n"))
		}
	})
	mux.Handle("GET /metrics", d.metrics.Handler())
	mux.HandleFunc("GET /v1/status", d.auth(false, d.handleStatus))
	mux.HandleFunc("GET /v1/runs/{id}", d.auth(false, d.handleRun))
	mux.HandleFunc("POST /v1/sync", d.auth(true, d.handleSync))
	d.heldRoutes(mux)
	d.uiRoutes(mux)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// auth checks "Authorization: Bearer TOKEN" against server.token. With no
// token configured, read endpoints are open (loopback by default) and
// required ones (POST /v1/sync) are forbidden.
func (d *Daemon) auth(required bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d.setMu.RLock()
		tok := d.settings.Token
		d.setMu.RUnlock()
		if required && d.refuseOnStandby(w, r) {
			return
		}
		if tok.Empty() {
			if required {
				jsonError(w, http.StatusForbidden, "no server.token or server.token_file is configured, so "+r.URL.Path+" is disabled; use SIGUSR1 (systemctl kill -s USR1 orgsync) or configure a token")
				return
			}
			h(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(tok.Reveal())) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orgsync"`)
			jsonError(w, http.StatusUnauthorized, "missing or wrong bearer token (server.token)")
			return
		}
		h(w, r)
	}
}

// SyncResponse is POST /v1/sync's answer.
type SyncResponse struct {
	Started bool           `json:"started"`
	Reason  string         `json:"reason,omitempty"`
	Error   string         `json:"error,omitempty"`
	Report  *engine.Report `json:"report,omitempty"` // with ?wait=true
	RunErr  string         `json:"run_error,omitempty"`
}

func (d *Daemon) handleSync(w http.ResponseWriter, r *http.Request) {
	done, err := d.sched.TriggerWait(scheduler.ReasonHTTP)
	switch {
	case errors.Is(err, scheduler.ErrBusy):
		writeJSON(w, http.StatusConflict, SyncResponse{Error: err.Error() + "; this request was skipped (runs never overlap)"})
		return
	case errors.Is(err, scheduler.ErrStopped):
		writeJSON(w, http.StatusServiceUnavailable, SyncResponse{Error: "the daemon is stopping"})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, SyncResponse{Error: err.Error()})
		return
	}
	d.log.Info("run requested over HTTP", zapRemote(r))
	if wait, _ := strconv.ParseBool(r.URL.Query().Get("wait")); !wait {
		writeJSON(w, http.StatusAccepted, SyncResponse{Started: true, Reason: scheduler.ReasonHTTP})
		return
	}
	select {
	case <-done:
	case <-r.Context().Done():
		return // the client left; the run goes on
	}
	d.lastMu.Lock()
	rep, runErr := d.lastReport, d.lastErr
	d.lastMu.Unlock()
	writeJSON(w, http.StatusOK, SyncResponse{Started: true, Reason: scheduler.ReasonHTTP, Report: rep, RunErr: runErr})
}

// RunSummary is one run in /v1/status.
type RunSummary struct {
	ID         int64          `json:"id"`
	Status     string         `json:"status"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	Changes    map[string]int `json:"changes,omitempty"`
	Held       int            `json:"held"`
	Failed     int            `json:"failed"`
	Refusal    string         `json:"refusal,omitempty"`
	Error      string         `json:"error,omitempty"`
	// Settled counts journal entries an interrupted earlier run left
	// pending that this run settled.
	Settled int `json:"settled_pending,omitempty"`
}

// Status is /v1/status.
type Status struct {
	Version     string         `json:"version"`
	Config      string         `json:"config"`
	StartedAt   time.Time      `json:"started_at"`
	Ready       bool           `json:"ready"`
	Summary     string         `json:"summary"`
	Schedule    string         `json:"schedule,omitempty"`
	NextRun     *time.Time     `json:"next_run,omitempty"`
	Running     *RunningStatus `json:"running,omitempty"`
	LastSuccess *time.Time     `json:"last_success,omitempty"`
	Skipped     map[string]int `json:"skipped_runs"`
	HeldChanges []plan.Held    `json:"held_changes"` // of the last run
	LastRuns    []RunSummary   `json:"last_runs"`
	// Role is "leader" or "standby" with ha.enabled, "" without it; HA
	// says who leads.
	Role string    `json:"role,omitempty"`
	HA   *HAStatus `json:"ha,omitempty"`
}

// RunningStatus is the run in flight.
type RunningStatus struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	d.setMu.RLock()
	s := d.settings
	d.setMu.RUnlock()
	st := Status{Version: d.opts.Version, Config: d.opts.ConfigPath, StartedAt: d.started, Ready: d.ready.Load() && !d.stopping.Load(),
		Schedule: s.Schedule.Cron, NextRun: timePtr(d.sched.Next()), Skipped: d.sched.Skipped(), HeldChanges: []plan.Held{}, LastRuns: []RunSummary{}}
	if running, since, reason := d.sched.Running(); running {
		st.Running = &RunningStatus{Since: since, Reason: reason}
	}
	d.lastMu.Lock()
	st.Summary = d.statusLine
	st.LastSuccess = timePtr(d.lastOK)
	haveLast := d.lastReport != nil // read under lastMu: runOnce writes it
	if haveLast && d.lastReport.HeldChanges != nil {
		st.HeldChanges = d.lastReport.HeldChanges
	}
	d.lastMu.Unlock()
	d.engMu.RLock()
	defer d.engMu.RUnlock()
	if st.HA = d.haStatus(r.Context(), d.store()); st.HA != nil {
		st.Role = st.HA.Role
	}
	if store := d.store(); store != nil {
		runs, err := store.Runs(r.Context(), 10)
		if err != nil {
			jsonError(w, http.StatusInternalServerError, err.Error())
			return
		}
		for i, run := range runs {
			sum := RunSummary{ID: run.ID, Status: run.Status, StartedAt: run.StartedAt, FinishedAt: timePtr(run.FinishedAt)}
			// Only the summary fields: a poll should not decode ten whole
			// reports (their held and rejected lists can be long).
			var rep struct {
				Status      string              `json:"status"`
				FinishedAt  time.Time           `json:"finished_at"`
				Changes     engine.ChangeCounts `json:"changes"`
				Held        int                 `json:"held"`
				Failed      int                 `json:"failed"`
				Settled     int                 `json:"settled_pending"`
				Refusal     string              `json:"refusal"`
				Error       string              `json:"error"`
				HeldChanges json.RawMessage     `json:"held_changes"`
			}
			if len(run.Report) > 0 && json.Unmarshal(run.Report, &rep) == nil {
				sum.Changes, sum.Held, sum.Failed, sum.Refusal, sum.Error = rep.Changes.NonZero(), rep.Held, rep.Failed, rep.Refusal, rep.Error
				sum.Settled = rep.Settled
				if i == 0 && !haveLast && len(rep.HeldChanges) > 0 {
					var held []plan.Held // from before this process started
					if json.Unmarshal(rep.HeldChanges, &held) == nil && held != nil {
						st.HeldChanges = held
					}
				}
				if st.LastSuccess == nil && rep.Status == engine.StatusSucceeded {
					st.LastSuccess = timePtr(rep.FinishedAt)
				}
			}
			st.LastRuns = append(st.LastRuns, sum)
		}
	}
	writeJSON(w, http.StatusOK, st)
}

func (d *Daemon) handleRun(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		jsonError(w, http.StatusBadRequest, "run id must be a positive integer")
		return
	}
	d.engMu.RLock()
	defer d.engMu.RUnlock()
	store := d.store()
	if store == nil {
		jsonError(w, http.StatusServiceUnavailable, "the state store is not open")
		return
	}
	run, err := store.GetRun(r.Context(), id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		jsonError(w, http.StatusNotFound, "no run "+strconv.FormatInt(id, 10))
		return
	case err != nil:
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if len(run.Report) == 0 {
		writeJSON(w, http.StatusOK, run) // still running, or killed before it was recorded
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(run.Report)
}

func zapRemote(r *http.Request) zap.Field { return zap.String("remote", r.RemoteAddr) }
