package emulator

import (
	"encoding/json"
	"io"
	"net/http"
)

// serveAdmin is the emulator's own API, apart from the WeCom paths:
//
//	GET  /emulator/state              Snapshot as JSON
//	GET  /emulator/stats              Stats as JSON
//	POST /emulator/stats/reset        zero the stats
//	GET  /emulator/faults             current Faults
//	POST /emulator/faults             set Faults (JSON body; 400 when invalid)
//	POST /emulator/reset              back to only the root department
//	POST /emulator/tokens/expire      every issued token answers 42001
//	POST /emulator/tokens/invalidate  every issued token answers 40014
//	POST /emulator/users/activate?userid=ID  mark a member activated (status 1)
//	POST /emulator/save               persist to the data file
//
// A known path with the wrong method is 405; an unknown path 404, empty.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request, p string) {
	type route struct {
		method string
		do     func() (any, int)
	}
	ok := func(v any) (any, int) { return v, http.StatusOK }
	done := map[string]string{"result": "ok"}
	routes := map[string]route{
		"state":       {http.MethodGet, func() (any, int) { return ok(s.State()) }},
		"stats":       {http.MethodGet, func() (any, int) { return ok(s.Stats()) }},
		"stats/reset": {http.MethodPost, func() (any, int) { s.ResetStats(); return ok(done) }},
		"reset":       {http.MethodPost, func() (any, int) { s.Reset(); return ok(done) }},
		"tokens/expire": {http.MethodPost, func() (any, int) {
			s.ExpireTokens()
			return ok(done)
		}},
		"tokens/invalidate": {http.MethodPost, func() (any, int) {
			s.InvalidateTokens()
			return ok(done)
		}},
		"users/activate": {http.MethodPost, func() (any, int) {
			if !s.Activate(r.URL.Query().Get("userid")) {
				return map[string]string{"error": "userid not found"}, http.StatusNotFound
			}
			return ok(done)
		}},
		"save": {http.MethodPost, func() (any, int) {
			if err := s.Save(); err != nil {
				return map[string]string{"error": err.Error()}, http.StatusInternalServerError
			}
			return ok(done)
		}},
	}
	if p == "faults" {
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, s.Faults(), http.StatusOK)
		case http.MethodPost, http.MethodPut:
			var f Faults
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err == nil {
				err = json.Unmarshal(b, &f)
			}
			if err == nil {
				err = f.Validate()
			}
			if err != nil {
				writeJSON(w, map[string]string{"error": err.Error()}, http.StatusBadRequest)
				return
			}
			s.SetFaults(f)
			writeJSON(w, s.Faults(), http.StatusOK)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
		return
	}
	rt, found := routes[p]
	if !found {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	v, code := rt.do()
	writeJSON(w, v, code)
}
