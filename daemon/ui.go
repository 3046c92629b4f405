package daemon

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// The review page, /ui/: server-rendered (html/template, embedded), no
// script. Recent runs, the held queue with an approve and a reject button
// per change and per kind, and the thresholds.
//
// Access follows the API's: with no token configured the page is
// read-only (as GET /v1/status is open and POST /v1/sync refused); with
// one, the page asks for it first. Logging in with the token sets a
// session cookie (HttpOnly, SameSite=Strict, Path=/ui/, Secure over TLS);
// every form carries the session's CSRF token, checked on POST. Decisions
// are logged as "web".

//go:embed ui
var uiFiles embed.FS

var uiPage = template.Must(template.ParseFS(uiFiles, "ui/page.html"))

// WebActor is who decides through the review page.
const WebActor = "web"

const (
	sessionCookie = "orgsync_session"
	sessionTTL    = 12 * time.Hour
	maxSessions   = 1000
)

type session struct {
	csrf    string
	expires time.Time
}

// sessions are the review page's logins, in memory: a restart logs out.
type sessions struct {
	mu sync.Mutex
	m  map[string]session
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}

func (s *sessions) create() (id string, sess session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]session{}
	}
	now := time.Now()
	for k, v := range s.m {
		if now.After(v.expires) || len(s.m) >= maxSessions {
			delete(s.m, k)
		}
	}
	id, sess = randomHex(32), session{csrf: randomHex(32), expires: now.Add(sessionTTL)}
	s.m[id] = sess
	return id, sess
}

func (s *sessions) get(r *http.Request) (string, session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[c.Value]
	if !ok || time.Now().After(sess.expires) {
		delete(s.m, c.Value)
		return "", session{}, false
	}
	return c.Value, sess, true
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// uiServer is the review page: the daemon and the page's sessions.
type uiServer struct {
	d        *Daemon
	sessions sessions
}

func (d *Daemon) uiRoutes(mux *http.ServeMux) {
	u := &uiServer{d: d}
	mux.HandleFunc("GET /ui/{$}", u.handleUI)
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusMovedPermanently) })
	mux.HandleFunc("POST /ui/login", u.handleLogin)
	mux.HandleFunc("POST /ui/logout", u.post(func(w http.ResponseWriter, r *http.Request, id string) {
		u.sessions.drop(id)
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		uiRedirect(w, r, "logged out")
	}))
	mux.HandleFunc("POST /ui/decide", u.post(u.handleDecide))
}

// uiToken reports whether a token is configured (else the page is
// read-only) and returns it.
func (d *Daemon) uiToken() (string, bool) {
	d.setMu.RLock()
	defer d.setMu.RUnlock()
	if d.settings.Token.Empty() {
		return "", false
	}
	return d.settings.Token.Reveal(), true
}

func uiRedirect(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/ui/?msg="+url.QueryEscape(msg), http.StatusSeeOther)
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (u *uiServer) handleLogin(w http.ResponseWriter, r *http.Request) {
	d := u.d
	tok, ok := d.uiToken()
	if !ok {
		http.Error(w, "no server.token or server.token_file is configured: the page is read-only", http.StatusForbidden)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	got := strings.TrimSpace(r.PostFormValue("token"))
	if subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
		time.Sleep(500 * time.Millisecond) // slows guessing; the token is long anyway
		d.log.Warn("review page: login with a wrong token", zapRemote(r))
		uiRedirect(w, r, "wrong token")
		return
	}
	id, _ := u.sessions.create()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/ui/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	d.log.Info("review page: logged in", zapRemote(r))
	uiRedirect(w, r, "logged in")
}

// uiPost checks a POST from the page: a live session and its CSRF token.
func (u *uiServer) post(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := u.d.uiToken(); !ok {
			http.Error(w, "no server.token or server.token_file is configured: the page is read-only", http.StatusForbidden)
			return
		}
		id, sess, ok := u.sessions.get(r)
		if !ok {
			http.Error(w, "not logged in (or the session expired): log in on /ui/ with the API token", http.StatusUnauthorized)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) != 1 {
			http.Error(w, "the form's CSRF token does not match the session: reload the page", http.StatusForbidden)
			return
		}
		h(w, r, id)
	}
}

func (u *uiServer) handleDecide(w http.ResponseWriter, r *http.Request, _ string) {
	d := u.d
	status := map[string]string{"approve": state.HeldApproved, "reject": state.HeldRejected}[r.PostFormValue("action")]
	if status == "" {
		http.Error(w, "action: want approve or reject", http.StatusBadRequest)
		return
	}
	var ids []int64
	kind := r.PostFormValue("kind")
	if s := r.PostFormValue("id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			http.Error(w, "id: want a positive number", http.StatusBadRequest)
			return
		}
		ids = []int64{id}
	} else if !validKind(kind) {
		http.Error(w, "kind: not a kind of change the guard holds", http.StatusBadRequest)
		return
	}
	decided, err := d.decide(r.Context(), ids, kind, status, WebActor, r.PostFormValue("note"), r.RemoteAddr)
	if err != nil {
		uiRedirect(w, r, "not done: "+err.Error())
		return
	}
	var what []string
	for _, h := range decided {
		what = append(what, fmt.Sprintf("#%d %s %s", h.ID, h.Op, h.Object))
	}
	uiRedirect(w, r, fmt.Sprintf("%s %d: %s", status, len(decided), strings.Join(what, ", ")))
}

// uiData is what page.html renders.
type uiData struct {
	Version    string
	Msg        string
	TokenSet   bool
	LoggedIn   bool
	CSRF       string
	Error      string
	Runs       []uiRun
	Held       []state.HeldChange
	Kinds      []uiKind
	Thresholds []uiThreshold
	Now        string
}

type uiRun struct {
	ID       int64
	Status   string
	Started  string
	Changes  string
	Held     int
	Failed   int
	Problem  string
	Finished string
}

type uiKind struct {
	Op      string
	Held    int
	Pending int // held or approved: what reject --kind reaches
}

type uiThreshold struct{ Key, Value, Effect string }

func (u *uiServer) handleUI(w http.ResponseWriter, r *http.Request) {
	d := u.d
	setPageHeaders(w)
	_, tokenSet := d.uiToken()
	data := uiData{Version: d.opts.Version, Msg: r.URL.Query().Get("msg"), TokenSet: tokenSet, Now: time.Now().Format("2006-01-02 15:04:05")}
	if _, sess, ok := u.sessions.get(r); ok && tokenSet {
		data.LoggedIn, data.CSRF = true, sess.csrf
	}
	if !tokenSet || data.LoggedIn {
		if err := d.fillUI(r, &data); err != nil {
			data.Error = err.Error()
		}
	}
	if err := uiPage.Execute(w, data); err != nil {
		d.log.Warn("review page not rendered", zapRemote(r))
	}
}

func (d *Daemon) fillUI(r *http.Request, data *uiData) error {
	return d.withStore(func(st *state.Store) error {
		runs, err := st.Runs(r.Context(), 15)
		if err != nil {
			return err
		}
		for _, run := range runs {
			u := uiRun{ID: run.ID, Status: run.Status, Started: run.StartedAt.Format("2006-01-02 15:04:05")}
			if !run.FinishedAt.IsZero() {
				u.Finished = run.FinishedAt.Format("15:04:05")
			}
			var rep struct {
				Changes engine.ChangeCounts `json:"changes"`
				Held    int                 `json:"held"`
				Failed  int                 `json:"failed"`
				Refusal string              `json:"refusal"`
				Error   string              `json:"error"`
			}
			if len(run.Report) > 0 && json.Unmarshal(run.Report, &rep) == nil {
				var parts []string
				for _, op := range rep.Changes.Ops() {
					parts = append(parts, fmt.Sprintf("%s %d", op, rep.Changes[op]))
				}
				u.Changes, u.Held, u.Failed = strings.Join(parts, ", "), rep.Held, rep.Failed
				u.Problem = rep.Refusal
				if u.Problem == "" {
					u.Problem = rep.Error
				}
			}
			data.Runs = append(data.Runs, u)
		}
		data.Held, err = st.ListHeld(r.Context(), state.HeldFilter{Status: state.HeldOpen})
		if err != nil {
			return err
		}
		kinds := map[string]*uiKind{}
		for _, h := range data.Held {
			k := kinds[h.Op]
			if k == nil {
				k = &uiKind{Op: h.Op}
				kinds[h.Op] = k
			}
			switch h.Status {
			case state.HeldHeld:
				k.Held++
				k.Pending++
			case state.HeldApproved:
				k.Pending++
			}
		}
		for _, k := range kinds {
			data.Kinds = append(data.Kinds, *k)
		}
		sort.Slice(data.Kinds, func(i, j int) bool { return data.Kinds[i].Op < data.Kinds[j].Op })
		d.fillThresholds(data)
		return nil
	})
}

// fillThresholds fills the thresholds; the caller holds engMu.
func (d *Daemon) fillThresholds(data *uiData) {
	if d.eng == nil {
		return
	}
	l := d.eng.Limits()
	for _, t := range []struct {
		key    string
		v      plan.Threshold
		effect string
	}{
		{"max_disables", l.Disables, "refuses the run"},
		{"max_deletes", l.Deletes, "refuses the run"},
		{"max_disables_per_day", l.DisablesPerDay, "refuses the run (rolling 24 h)"},
		{"max_deletes_per_day", l.DeletesPerDay, "refuses the run (rolling 24 h)"},
		{"max_moves", l.Moves, "holds the moves"},
		{"max_updates", l.Updates, "holds the updates (per field)"},
		{"max_clears", l.Clears, "holds the clears (per field)"},
		{"max_department_renames", l.DeptRenames, "holds the renames"},
		{"max_department_moves", l.DeptMoves, "holds the moves"},
		{"max_department_deletes", l.DeptDeletes, "holds the deletes"},
	} {
		data.Thresholds = append(data.Thresholds, uiThreshold{Key: t.key, Value: t.v.String(), Effect: t.effect})
	}
}
