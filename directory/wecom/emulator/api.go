package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// maxJSONBody bounds a JSON request; bigger bodies get 40206.
const maxJSONBody = 8 << 20

// maxUpload bounds a media/upload request (20 MB file plus multipart overhead).
const maxUpload = 21 << 20

// apiSpec describes one WeCom endpoint.
type apiSpec struct {
	post     bool    // parameters in a JSON body (else the query string)
	upload   bool    // multipart media upload
	write    bool    // needs the Contacts-Sync edit role (48002 otherwise)
	detail   bool    // detail read: 48009 for Contacts-Sync in restricted mode
	syncOnly bool    // only Contacts-Sync secrets may call it (48002 otherwise)
	okMsg    string  // errmsg on success
	defaults []field // empty array fields the real server includes even in error bodies
	handle   func(s *Server, c *call) (obj, *apiErr)
}

// call is one authenticated WeCom request being handled under s.mu.
type call struct {
	r    *http.Request
	q    url.Values
	b    body
	ip   string
	role Role
	// scope and strip come from an app secret's SecretSpec: the visible
	// department subtrees (nil = everything) and whether sensitive member
	// fields are hidden.
	scope []int64
	strip bool
	file  *uploaded
}

// uploaded is the media part of a multipart upload.
type uploaded struct {
	filename string
	data     []byte
}

var emptyArr = []any{}

// apis is every endpoint the emulator serves, keyed by the path after /cgi-bin/.
var apis = map[string]apiSpec{
	"department/create":     {post: true, write: true, okMsg: "created", handle: (*Server).departmentCreate},
	"department/update":     {post: true, write: true, okMsg: "updated", handle: (*Server).departmentUpdate},
	"department/delete":     {write: true, okMsg: "deleted", handle: (*Server).departmentDelete},
	"department/list":       {detail: true, okMsg: "ok", defaults: []field{{"department", emptyArr}}, handle: (*Server).departmentList},
	"department/simplelist": {okMsg: "ok", defaults: []field{{"department_id", emptyArr}}, handle: (*Server).departmentSimplelist},
	"department/get":        {detail: true, okMsg: "ok", handle: (*Server).departmentGet},
	"user/create":           {post: true, write: true, okMsg: "created", handle: (*Server).userCreate},
	"user/update":           {post: true, write: true, okMsg: "updated", handle: (*Server).userUpdate},
	"user/delete":           {write: true, okMsg: "deleted", handle: (*Server).userDelete},
	"user/batchdelete":      {post: true, write: true, okMsg: "deleted", handle: (*Server).userBatchdelete},
	"user/get": {detail: true, okMsg: "ok", handle: (*Server).userGet, defaults: []field{
		{"department", emptyArr}, {"order", emptyArr}, {"is_leader_in_dept", emptyArr}, {"direct_leader", emptyArr}}},
	"user/list":                {detail: true, okMsg: "ok", defaults: []field{{"userlist", emptyArr}}, handle: (*Server).userList},
	"user/simplelist":          {detail: true, okMsg: "ok", defaults: []field{{"userlist", emptyArr}}, handle: (*Server).userSimplelist},
	"user/getuserid":           {post: true, okMsg: "ok", handle: (*Server).userGetuserid},
	"user/get_userid_by_email": {post: true, okMsg: "ok", handle: (*Server).userGetuseridByEmail},
	"user/list_id":             {post: true, syncOnly: true, okMsg: "ok", defaults: []field{{"dept_user", emptyArr}}, handle: (*Server).userListID},
	"media/upload":             {upload: true, write: false, okMsg: "", handle: (*Server).mediaUpload},
	"batch/syncuser":           {post: true, write: true, okMsg: "ok", handle: (*Server).batchSyncuser},
	"batch/replaceuser":        {post: true, write: true, okMsg: "ok", handle: (*Server).batchReplaceuser},
	"batch/replaceparty":       {post: true, write: true, okMsg: "ok", handle: (*Server).batchReplaceparty},
	"batch/getresult":          {okMsg: "ok", defaults: []field{{"result", emptyArr}}, handle: (*Server).batchGetresult},
}

// countsAsWrite lists the APIs Stats.Writes counts: every call that can
// change the directory (media/upload included, since it only serves imports
// here).
func countsAsWrite(api string, spec apiSpec) bool {
	return spec.write || api == "media/upload"
}

// token is one issued access token.
type token struct {
	secret  string
	role    Role
	scope   []int64
	strip   bool
	expires time.Time
	expired bool // forced expiry: 42001
	invalid bool // forced invalidation: 40014
}

// ExpireTokens makes every token issued so far answer 42001; the next
// gettoken issues a new one.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.expired = true
	}
	s.current = map[string]string{}
}

// InvalidateTokens makes every token issued so far answer 40014; the next
// gettoken issues a new one.
func (s *Server) InvalidateTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.invalid = true
	}
	s.current = map[string]string{}
}

func newOpaqueID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sleep waits d or until the request is cancelled.
func sleep(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func (s *Server) serveGettoken(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	sleep(r, s.opts.Latency)
	q := r.URL.Query()
	corpid, secret := q.Get("corpid"), q.Get("corpsecret")

	s.mu.Lock()
	s.stats.Calls["gettoken"]++
	var e *apiErr
	var spec SecretSpec
	banKey := "gettoken-failures#" + ip
	switch {
	case s.opts.BadSecretBan > 0 && s.windows.peek(banKey, s.opts.Now(), time.Hour) >= s.opts.BadSecretBan:
		e = errf(45009, "api freq out of limit: too many invalid credentials from this ip, blocked for the rest of the hour")
	case secret == "":
		e = errc(41004)
	case corpid == "":
		e = errc(41002)
	case corpid != s.opts.CorpID:
		e = errc(40013)
	default:
		found := false
		for _, sp := range s.opts.Secrets {
			if sp.Secret == secret {
				spec, found = sp, true
				break
			}
		}
		if !found {
			e = errc(40001)
			if s.opts.BadSecretBan > 0 {
				s.windows.count(banKey, s.opts.Now(), time.Hour)
			}
		}
	}
	if e != nil {
		s.countErr("gettoken", e.code)
		resp := obj{{"errcode", e.code}, {"errmsg", s.errmsg(e, ip)}}
		s.mu.Unlock()
		s.log.Debug("wecom call", zap.String("api", "gettoken"), zap.Int("errcode", e.code))
		writeJSON(w, resp, http.StatusOK)
		return
	}
	now := s.opts.Now()
	// The same token is returned until it expires or is expired/invalidated
	// (older docs; the client must cope with either behaviour).
	id := s.current[spec.Secret]
	t := s.tokens[id]
	if t == nil || t.expired || t.invalid || !now.Before(t.expires) {
		for k, old := range s.tokens {
			if now.Sub(old.expires) > 24*time.Hour {
				delete(s.tokens, k)
			}
		}
		id = newOpaqueID(96)
		t = &token{secret: spec.Secret, role: spec.Role, scope: spec.Scope, strip: spec.StripSensitive, expires: now.Add(s.opts.TokenTTL)}
		s.tokens[id] = t
		s.current[spec.Secret] = id
	}
	expiresIn := int(t.expires.Sub(now) / time.Second)
	s.countErr("gettoken", 0)
	s.mu.Unlock()
	s.log.Debug("wecom call", zap.String("api", "gettoken"), zap.Int("errcode", 0))
	writeJSON(w, obj{{"errcode", 0}, {"errmsg", "ok"}, {"access_token", id}, {"expires_in", expiresIn}}, http.StatusOK)
}

func (s *Server) countErr(api string, code int) {
	m := s.stats.Errors[api]
	if m == nil {
		m = map[int]int{}
		s.stats.Errors[api] = m
	}
	m[code]++
}

// checkToken applies the token rules: only the query parameter counts.
func (s *Server) checkToken(q url.Values) (*token, *apiErr) {
	id := q.Get("access_token")
	if id == "" {
		return nil, errc(41001)
	}
	t := s.tokens[id]
	switch {
	case t == nil || t.invalid:
		return nil, errc(40014)
	case t.expired || !s.opts.Now().Before(t.expires):
		return nil, errc(42001)
	}
	return t, nil
}

// rateLimited counts a call in its API's minute and hour windows and
// reports whether either limit is exceeded. Windows are aligned to
// multiples of their length, so a 45009 lasts until the window ends.
func (s *Server) rateLimited(api string) bool {
	now := s.opts.Now()
	over := false
	if s.opts.RateLimitPerMinute >= 0 {
		over = s.windows.count(api, now, s.opts.RateLimitWindow) > s.opts.RateLimitPerMinute
	}
	if s.opts.RateLimitPerHour >= 0 {
		over = s.windows.count(api+"#hour", now, time.Hour) > s.opts.RateLimitPerHour || over
	}
	return over
}

// windows are fixed, aligned counting windows by key.
type windows map[string]*window

// count adds one to key's window at now and returns the window's count.
func (ws windows) count(key string, now time.Time, length time.Duration) int {
	start := now.Truncate(length)
	w := ws[key]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start}
		ws[key] = w
	}
	w.n++
	return w.n
}

// peek returns key's count in the window at now without adding to it.
func (ws windows) peek(key string, now time.Time, length time.Duration) int {
	w := ws[key]
	if w == nil || !w.start.Equal(now.Truncate(length)) {
		return 0
	}
	return w.n
}

type window struct {
	start time.Time
	n     int
}

// pickFault draws the next fault, or "" for none.
func (s *Server) pickFault() string {
	if s.faults.Rate <= 0 {
		return ""
	}
	if s.rng.Float64() >= s.faults.Rate {
		return ""
	}
	kinds := s.faults.Kinds
	if len(kinds) == 0 {
		kinds = defaultFaultKinds
	}
	return kinds[s.rng.IntN(len(kinds))]
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, api string) {
	if api == "gettoken" {
		s.serveGettoken(w, r)
		return
	}
	spec, ok := apis[api]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ip := clientIP(r)

	s.mu.Lock()
	s.inflight[api]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[api]--
		s.mu.Unlock()
	}()

	sleep(r, s.opts.Latency)

	// Read the body before taking the lock; a GET on a POST API has none,
	// so its fields are reported as missing, as on the real server.
	var raw []byte
	var file *uploaded
	var readErr *apiErr
	switch {
	case spec.upload:
		file, readErr = readUpload(w, r)
	case spec.post:
		raw, readErr = readJSON(w, r)
	}

	s.mu.Lock()
	s.stats.Calls[api]++
	if countsAsWrite(api, spec) {
		s.stats.Writes++
	}
	resp, fault := s.handleLocked(r, api, spec, ip, raw, file, readErr)
	status := http.StatusBadGateway
	if fault == FaultHTTP5xx && s.rng.IntN(2) == 1 {
		status = http.StatusServiceUnavailable
	}
	s.mu.Unlock()

	switch fault {
	case FaultHTTP5xx:
		w.WriteHeader(status)
		return
	case FaultDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, resp, http.StatusOK)
}

// handleLocked runs the checks in the real server's order (token before
// body fields) and then the endpoint. It returns the response body, or a
// transport-level fault kind to act out instead.
func (s *Server) handleLocked(r *http.Request, api string, spec apiSpec, ip string, raw []byte, file *uploaded, readErr *apiErr) (_ obj, fault string) {
	fail := func(e *apiErr) (obj, string) {
		s.countErr(api, e.code)
		s.log.Debug("wecom call", zap.String("api", api), zap.Int("errcode", e.code))
		resp := obj{{"errcode", e.code}, {"errmsg", s.errmsg(e, ip)}}
		return append(resp, spec.defaults...), ""
	}
	q := r.URL.Query()

	switch f := s.pickFault(); f {
	case "":
	case FaultHTTP5xx, FaultDrop:
		s.stats.Faults[f]++
		s.log.Debug("wecom call", zap.String("api", api), zap.String("fault", f))
		return nil, f
	case FaultBusy:
		s.stats.Faults[f]++
		return fail(errc(-1))
	case FaultConflict:
		s.stats.Faults[f]++
		return fail(errc(6000))
	case FaultConcurrency:
		s.stats.Faults[f]++
		return fail(errc(45033))
	case FaultDropAfter:
		// The call takes effect; only its answer is lost.
		s.stats.Faults[f]++
		defer func() { fault = FaultDrop }()
	case FaultTokenExpiry:
		s.stats.Faults[f]++
		if t := s.tokens[q.Get("access_token")]; t != nil {
			t.expired = true
			delete(s.current, t.secret)
		}
		return fail(errc(42001))
	}

	tok, e := s.checkToken(q)
	if e != nil {
		return fail(e)
	}
	if len(s.trusted) > 0 && !s.trusted[ip] {
		return fail(errc(60020))
	}
	if s.opts.MaxConcurrentPerAPI > 0 && s.inflight[api] > s.opts.MaxConcurrentPerAPI {
		return fail(errc(45033))
	}
	if s.rateLimited(api) {
		return fail(errc(45009))
	}
	contactsSync := tok.role == RoleContactsSyncEdit || tok.role == RoleContactsSyncRead
	switch {
	case spec.write && tok.role != RoleContactsSyncEdit:
		return fail(errc(48002))
	case spec.syncOnly && !contactsSync:
		return fail(errc(48002))
	case spec.detail && contactsSync && s.opts.RestrictedReads:
		return fail(errc(48009))
	}
	if readErr != nil {
		return fail(readErr)
	}
	c := &call{r: r, q: q, ip: ip, role: tok.role, scope: tok.scope, strip: tok.strip, file: file}
	if spec.post {
		if s.opts.RejectUnicodeEscapes && hasUnicodeEscape(raw) {
			return fail(errc(40033))
		}
		b, err := parseBody(raw)
		if err != nil {
			return fail(errf(40058, "Warning: wrong json format. %v", err))
		}
		c.b = b
	}
	s.advanceJobs()
	out, e := spec.handle(s, c)
	if e != nil {
		return fail(e)
	}
	s.countErr(api, 0)
	s.log.Debug("wecom call", zap.String("api", api), zap.Int("errcode", 0))
	return append(obj{{"errcode", 0}, {"errmsg", spec.okMsg}}, out...), ""
}

func readJSON(w http.ResponseWriter, r *http.Request) ([]byte, *apiErr) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, errc(40206)
		}
		return nil, errf(40058, "read body: %v", err)
	}
	return b, nil
}

// readUpload reads the multipart part named "media"; a missing part is
// empty media (44001).
func readUpload(w http.ResponseWriter, r *http.Request) (*uploaded, *apiErr) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errc(44001)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errc(44001)
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, errc(45001)
			}
			return nil, errc(44001)
		}
		if part.FormName() != "media" {
			continue
		}
		data, err := io.ReadAll(part)
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, errc(45001)
			}
			return nil, errc(44001)
		}
		return &uploaded{filename: part.FileName(), data: data}, nil
	}
}

// writeJSON writes a JSON response with HTTP status code (WeCom answers
// API calls with 200 whatever the errcode; the admin API uses others).
func writeJSON(w http.ResponseWriter, v any, code int) {
	b, err := marshalRaw(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
