package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// The held queue over HTTP (bearer token as for /v1/sync; decisions are
// logged in the queue with who made them: "api" for the bearer token,
// "web" for the review page's session):
//
//	GET  /v1/held                  the open queue (?all=true: applied and obsolete too; ?kind=OP)
//	GET  /v1/held/{id}             one change with its audit trail
//	POST /v1/held/{id}/approve     approve one change (body, optional: {"note": "..."})
//	POST /v1/held/{id}/reject      reject one change
//	POST /v1/held/approve?kind=OP  approve every held change of a kind (or ?all=true: every one)
//	POST /v1/held/reject?kind=OP   reject every held or approved change of a kind (or ?all=true)
func (d *Daemon) heldRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/held", d.auth(false, d.handleHeldList))
	mux.HandleFunc("GET /v1/held/{id}", d.auth(false, d.handleHeldGet))
	for _, st := range []string{state.HeldApproved, state.HeldRejected} {
		verb := decisionVerb(st)
		mux.HandleFunc("POST /v1/held/{id}/"+verb, d.auth(true, func(w http.ResponseWriter, r *http.Request) { d.handleDecideOne(w, r, st) }))
		mux.HandleFunc("POST /v1/held/"+verb, d.auth(true, func(w http.ResponseWriter, r *http.Request) { d.handleDecideBulk(w, r, st) }))
	}
}

func decisionVerb(status string) string {
	if status == state.HeldApproved {
		return "approve"
	}
	return "reject"
}

// APIActor is who decides through the bearer-token API.
const APIActor = "api"

// heldOps are the kinds of change the guard holds.
var heldOps = []plan.Op{plan.OpUserUpdate, plan.OpUserMove, plan.OpUserDisable, plan.OpUserDelete, plan.OpDeptUpdate, plan.OpDeptDelete}

func validKind(kind string) bool { return slices.Contains(heldOps, plan.Op(kind)) }

// errNoStore is answered 503 while a reload swaps the engine.
var errNoStore = errors.New("the state store is not open")

// withStore runs f with the open store, under the engine's read lock.
func (d *Daemon) withStore(f func(*state.Store) error) error {
	d.engMu.RLock()
	defer d.engMu.RUnlock()
	st := d.store()
	if st == nil {
		return errNoStore
	}
	return f(st)
}

// HeldDecision is the answer to an approve or reject.
type HeldDecision struct {
	Decided []state.HeldChange `json:"decided"`
	Note    string             `json:"note,omitempty"`
}

// decide approves or rejects ids, or every open change of kind (all: of
// every kind) when ids is empty, for actor, and logs it.
func (d *Daemon) decide(ctx context.Context, ids []int64, kind string, status, actor, note, remote string) ([]state.HeldChange, error) {
	var decided []state.HeldChange
	err := d.withStore(func(st *state.Store) error {
		if len(ids) == 0 {
			from := []string{state.HeldHeld}
			if status == state.HeldRejected {
				from = append(from, state.HeldApproved)
			}
			hs, err := st.ListHeld(ctx, state.HeldFilter{Status: from, Op: kind})
			if err != nil {
				return err
			}
			for _, h := range hs {
				ids = append(ids, h.ID)
			}
			if len(ids) == 0 {
				return nil
			}
		}
		var err error
		decided, err = st.DecideHeld(ctx, ids, status, actor, note)
		return err
	})
	if err == nil && len(decided) > 0 {
		d.log.Info("held changes "+status, zap.String("by", actor), zap.String("remote", remote), zap.Int64s("ids", ids), zap.String("kind", kind), zap.String("note", note))
	}
	if decided == nil {
		decided = []state.HeldChange{}
	}
	return decided, err
}

func heldError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, state.ErrHeldNotFound):
		jsonError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, state.ErrHeldClosed):
		jsonError(w, http.StatusConflict, err.Error())
	case errors.Is(err, errNoStore):
		jsonError(w, http.StatusServiceUnavailable, err.Error())
	default:
		jsonError(w, http.StatusInternalServerError, err.Error())
	}
}

func (d *Daemon) handleHeldList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind := q.Get("kind")
	if kind != "" && !validKind(kind) {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("kind %q is not a kind of change the guard holds", kind))
		return
	}
	f := state.HeldFilter{Op: kind, Status: state.HeldOpen}
	if all, _ := strconv.ParseBool(q.Get("all")); all {
		f.Status = nil
	}
	var hs []state.HeldChange
	if err := d.withStore(func(st *state.Store) (err error) { hs, err = st.ListHeld(r.Context(), f); return }); err != nil {
		heldError(w, err)
		return
	}
	if hs == nil {
		hs = []state.HeldChange{}
	}
	writeJSON(w, http.StatusOK, hs)
}

// HeldDetail is GET /v1/held/{id}.
type HeldDetail struct {
	state.HeldChange
	Events []state.HeldEvent `json:"events"`
}

func (d *Daemon) handleHeldGet(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var out HeldDetail
	err := d.withStore(func(st *state.Store) (err error) {
		if out.HeldChange, err = st.GetHeld(r.Context(), id); err != nil {
			return err
		}
		out.Events, err = st.HeldEvents(r.Context(), id)
		return err
	})
	if err != nil {
		heldError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		jsonError(w, http.StatusBadRequest, "held change id must be a positive integer")
		return 0, false
	}
	return id, true
}

// decisionBody is the optional JSON body of an approve or reject.
type decisionBody struct {
	Note string `json:"note"`
}

func readNote(w http.ResponseWriter, r *http.Request) (string, bool) {
	var b decisionBody
	if r.ContentLength == 0 {
		return "", true
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&b); err != nil {
		jsonError(w, http.StatusBadRequest, "body: want JSON like {\"note\": \"why\"}: "+err.Error())
		return "", false
	}
	return b.Note, true
}

func (d *Daemon) handleDecideOne(w http.ResponseWriter, r *http.Request, status string) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	note, ok := readNote(w, r)
	if !ok {
		return
	}
	decided, err := d.decide(r.Context(), []int64{id}, "", status, APIActor, note, r.RemoteAddr)
	if err != nil {
		heldError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, HeldDecision{Decided: decided, Note: note})
}

func (d *Daemon) handleDecideBulk(w http.ResponseWriter, r *http.Request, status string) {
	q := r.URL.Query()
	kind := q.Get("kind")
	all, _ := strconv.ParseBool(q.Get("all"))
	switch {
	case kind != "" && !validKind(kind):
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("kind %q is not a kind of change the guard holds", kind))
		return
	case kind == "" && !all:
		jsonError(w, http.StatusBadRequest, "say which: ?kind=OP (user_disable, user_move, ...) or ?all=true")
		return
	}
	note, ok := readNote(w, r)
	if !ok {
		return
	}
	decided, err := d.decide(r.Context(), nil, kind, status, APIActor, note, r.RemoteAddr)
	if err != nil {
		heldError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, HeldDecision{Decided: decided, Note: note})
}
