package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/testservers"
)

// harm lists what a sync from a faulty source did to what the good sync
// made: members deleted, disabled, renamed or moved; departments deleted,
// renamed or created; members created. The faulty sources below hold the
// same people as the good one (or fewer), so every one of these is damage.
func harm(before, after directory) []string {
	var out []string
	for id, b := range before.Members {
		a, ok := after.Members[id]
		switch {
		case !ok:
			out = append(out, "deleted member "+id)
			continue
		case b.Enabled && !a.Enabled:
			out = append(out, "disabled member "+id)
		}
		if a.Name != b.Name {
			out = append(out, fmt.Sprintf("renamed member %s %q → %q", id, b.Name, a.Name))
		}
		if a.Dept != b.Dept {
			out = append(out, fmt.Sprintf("moved member %s %s → %s", id, b.Dept, a.Dept))
		}
		if b.Mobile != "" && a.Mobile == "" {
			out = append(out, "cleared mobile of "+id)
		}
		if b.Leaders != "" && a.Leaders == "" {
			out = append(out, "cleared direct_leader of "+id)
		}
	}
	for id := range after.Members {
		if _, ok := before.Members[id]; !ok {
			out = append(out, "created member "+id)
		}
	}
	for id, name := range before.DeptNames {
		a, ok := after.DeptNames[id]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("deleted department %d %s", id, name))
		case a != name:
			out = append(out, fmt.Sprintf("renamed department %d %q → %q", id, name, a))
		}
	}
	for id, name := range after.DeptNames {
		if _, ok := before.DeptNames[id]; !ok {
			out = append(out, fmt.Sprintf("created department %d %q", id, name))
		}
	}
	sort.Strings(out)
	return out
}

// summarize counts harm lines by kind ("disabled member" 12, ...).
func summarize(h []string) string {
	counts := map[string]int{}
	var kinds []string
	for _, l := range h {
		f := strings.Fields(l)
		k := f[0] + " " + f[1]
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	ex := h
	if len(ex) > 5 {
		ex = ex[:5]
	}
	return strings.Join(parts, ", ") + "; e.g. " + strings.Join(ex, "; ")
}

// faultCase is one faulty source, applied after a good first sync.
type faultCase struct {
	name  string
	cause string // regexp the faulty sync's output must match (the cause, named)
	// fault breaks the source in dir; it may return a replacement for the
	// source's extra config.
	fault func(t *testing.T, dir string, good []byte) (extra string)
}

const (
	causeTruncated = `(?i)truncat|incomplete|cut off|last line|terminat|shrank|shrink|unexpected end|EOF`
	causeEmpty     = `(?i)empty|no records|0 records|no data|no rows|header only|no people`
	causeShrunk    = `(?i)shrank|shrink|dropped|fewer|down from|of the last`
	causeEncoding  = `(?i)encod|utf-?8|invalid byte|decod|gb18030|gbk|latin`
	causeColumns   = `(?i)column|header`
	causeMissing   = `(?i)no such file|not found|no complete file|does not exist|missing`
)

// cutInLine cuts b `into` bytes after the start of the line holding the
// byte at fraction frac of the file.
func cutInLine(b []byte, frac float64, into int) []byte {
	i := int(float64(len(b)) * frac)
	start := bytes.LastIndexByte(b[:i], '\n') + 1
	return b[:start+into]
}

func lines(b []byte) [][]byte { return bytes.SplitAfter(b, []byte("\n")) }

func csvFaults() []faultCase {
	write := func(t *testing.T, dir string, b []byte) {
		must(t, os.WriteFile(filepath.Join(dir, "employees.csv"), b, 0o644))
	}
	return []faultCase{
		{"cut inside the last field of the last line (no final CRLF)", causeTruncated, func(t *testing.T, dir string, g []byte) string {
			write(t, dir, g[:len(g)-4])
			return ""
		}},
		{"cut in the middle of a line half way through", causeTruncated, func(t *testing.T, dir string, g []byte) string {
			write(t, dir, cutInLine(g, 0.5, 9))
			return ""
		}},
		{"cut at a line boundary, 60% kept", causeTruncated + "|" + causeShrunk, func(t *testing.T, dir string, g []byte) string {
			write(t, dir, cutInLine(g, 0.6, 0))
			return ""
		}},
		{"cut inside a multi-byte character", causeTruncated + "|" + causeEncoding, func(t *testing.T, dir string, g []byte) string {
			c := cutInLine(g, 0.7, 0)
			rest := g[len(c):]
			i := bytes.IndexFunc(rest, func(r rune) bool { return r > 0x7f })
			write(t, dir, g[:len(c)+i+1])
			return ""
		}},
		{"cut inside the header", causeTruncated + "|" + causeColumns + "|" + causeEmpty, func(t *testing.T, dir string, g []byte) string {
			write(t, dir, g[:12])
			return ""
		}},
		{"empty file", causeEmpty, func(t *testing.T, dir string, g []byte) string {
			write(t, dir, nil)
			return ""
		}},
		{"header only", causeEmpty, func(t *testing.T, dir string, g []byte) string {
			write(t, dir, lines(g)[0])
			return ""
		}},
		{"40% of the rows missing", causeShrunk, func(t *testing.T, dir string, g []byte) string {
			var b []byte
			for i, l := range lines(g) {
				if i == 0 || i%5 >= 2 {
					b = append(b, l...)
				}
			}
			write(t, dir, b)
			return ""
		}},
		{"GBK export read as encoding: utf-8", causeEncoding, func(t *testing.T, dir string, g []byte) string {
			b, err := simplifiedchinese.GBK.NewEncoder().Bytes(g)
			must(t, err)
			write(t, dir, b)
			return ", encoding: utf-8"
		}},
		{"one Latin-1 byte in a UTF-8 export (encoding: auto)", causeEncoding, func(t *testing.T, dir string, g []byte) string {
			ls := lines(g)
			ls[7] = bytes.Replace(ls[7], []byte("工程师"), []byte("Caf\xe9"), 1)
			ls[7] = bytes.Replace(ls[7], []byte("经理"), []byte("Caf\xe9"), 1)
			ls[7] = bytes.Replace(ls[7], []byte("专员"), []byte("Caf\xe9"), 1)
			ls[7] = bytes.Replace(ls[7], []byte("主管"), []byte("Caf\xe9"), 1)
			write(t, dir, bytes.Join(ls, nil))
			return ", encoding: auto"
		}},
		{"half the rows GBK, half UTF-8 (encoding: auto)", causeEncoding, func(t *testing.T, dir string, g []byte) string {
			ls := lines(g)
			for i := len(ls) / 2; i < len(ls); i++ {
				b, err := simplifiedchinese.GBK.NewEncoder().Bytes(ls[i])
				must(t, err)
				ls[i] = b
			}
			write(t, dir, bytes.Join(ls, nil))
			return ", encoding: auto"
		}},
		{"name column renamed", causeColumns + "|name", func(t *testing.T, dir string, g []byte) string {
			write(t, dir, bytes.Replace(g, []byte("id,name,"), []byte("id,full_name,"), 1))
			return ""
		}},
		{"key column renamed", causeColumns + "|\\bid\\b", func(t *testing.T, dir string, g []byte) string {
			write(t, dir, bytes.Replace(g, []byte("id,name,"), []byte("emp_id,name,"), 1))
			return ""
		}},
		{"department and status columns renamed", causeColumns + "|dept|status", func(t *testing.T, dir string, g []byte) string {
			write(t, dir, bytes.Replace(g, []byte(",dept,mobile,email,position,status,"), []byte(",department,mobile,email,position,state,"), 1))
			return ""
		}},
		{"file gone", causeMissing, func(t *testing.T, dir string, g []byte) string {
			must(t, os.Remove(filepath.Join(dir, "employees.csv")))
			return ""
		}},
	}
}

// TestFaultyCSVSourceDoesNoHarm: after a good first sync, a sync from a
// broken CSV export makes no disable, delete, rename or move, and says why
// (DESIGN §3a.1).
func TestFaultyCSVSourceDoesNoHarm(t *testing.T) {
	t.Parallel()
	ps := company(pick(60, 200))
	good := csvBytes(ps)
	for _, tc := range csvFaults() {
		t.Run(tc.name, func(t *testing.T) {
			emu := startEmulator(t, emulator.Options{RestrictedReads: true})
			dir := t.TempDir()
			src := filepath.Join(dir, "employees.csv")
			must(t, os.WriteFile(src, good, 0o644))
			cfgPath := writeConfig(t, cfg{Sources: csvSource(src, ""), URL: emu.URL, Dir: dir})
			before := goodFirstSync(t, emu.State, cfgPath, ps)
			extra := tc.fault(t, dir, good)
			cfgPath = writeConfig(t, cfg{Sources: csvSource(src, extra), URL: emu.URL, Dir: dir})
			checkNoHarm(t, emu, before, cfgPath, tc.cause)
		})
	}
}

func checkNoHarm(t *testing.T, emu *inproc, before directory, cfgPath, cause string) {
	t.Helper()
	r := runBin(t, time.Minute, "sync", "-c", cfgPath, "--log-level", "warn")
	if h := harm(before, readDirectory(emu.State())); len(h) > 0 {
		t.Errorf("a sync from the faulty source (exit %d) did harm: %s\noutput:\n%s", r.code, summarize(h), tail(r.out(), 25))
	}
	re := regexp.MustCompile(cause)
	for _, l := range strings.Split(r.out(), "\n") {
		if re.MatchString(l) {
			t.Logf("exit %d; the cause: %s", r.code, strings.TrimSpace(clip(l)))
			break
		}
	}
	if !re.MatchString(r.out()) {
		t.Errorf("the faulty sync's output names no cause (want /%s/), exit %d:\n%s", cause, r.code, tail(r.out(), 25))
	}
}

// xlsxBytes renders rows as a workbook.
func xlsxBytes(t *testing.T, rows [][]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, row := range rows {
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		must(t, err)
		vals := make([]any, len(row))
		for j, v := range row {
			vals[j] = v
		}
		must(t, f.SetSheetRow("Sheet1", cell, &vals))
	}
	var b bytes.Buffer
	must(t, f.Write(&b))
	return b.Bytes()
}

func peopleRows(ps []person) [][]string {
	rows := [][]string{strings.Split(csvHeader, ",")}
	for _, p := range ps {
		rows = append(rows, []string{p.ID, p.Name, p.Dept, p.Mobile, p.Email, p.Position, p.Status, p.Manager})
	}
	return rows
}

// TestFaultyXLSXSourceDoesNoHarm is the same for XLSX exports.
func TestFaultyXLSXSourceDoesNoHarm(t *testing.T) {
	t.Parallel()
	ps := company(pick(60, 200))
	rows := peopleRows(ps)
	cases := []struct {
		name, cause string
		bytes       func(t *testing.T, good []byte) []byte
	}{
		{"workbook cut in half", causeTruncated + `|zip|xlsx|workbook|format`, func(t *testing.T, g []byte) []byte { return g[:len(g)/2] }},
		{"empty file", causeEmpty + `|zip|xlsx|workbook|format`, func(t *testing.T, g []byte) []byte { return nil }},
		{"header row only", causeEmpty, func(t *testing.T, g []byte) []byte { return xlsxBytes(t, rows[:1]) }},
		{"40% of the rows missing", causeShrunk, func(t *testing.T, g []byte) []byte {
			var keep [][]string
			for i, r := range rows {
				if i == 0 || i%5 >= 2 {
					keep = append(keep, r)
				}
			}
			return xlsxBytes(t, keep)
		}},
		{"name column renamed", causeColumns + "|name", func(t *testing.T, g []byte) []byte {
			rs := append([][]string{{"id", "full_name", "dept", "mobile", "email", "position", "status", "manager"}}, rows[1:]...)
			return xlsxBytes(t, rs)
		}},
		{"a CSV saved under the .xlsx name", `(?i)zip|xlsx|workbook|format|not a`, func(t *testing.T, g []byte) []byte { return csvBytes(ps) }},
	}
	good := xlsxBytes(t, rows)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu := startEmulator(t, emulator.Options{RestrictedReads: true})
			dir := t.TempDir()
			src := filepath.Join(dir, "employees.xlsx")
			must(t, os.WriteFile(src, good, 0o644))
			cfgPath := writeConfig(t, cfg{Sources: csvSource(src, ""), URL: emu.URL, Dir: dir})
			before := goodFirstSync(t, emu.State, cfgPath, ps)
			must(t, os.WriteFile(src, tc.bytes(t, good), 0o644))
			checkNoHarm(t, emu, before, cfgPath, tc.cause)
		})
	}
}

const ldapBase = "ou=people,dc=example,dc=test"

func ldapSeed(ps []person) string {
	var l testservers.LDIF
	ous := map[string]bool{}
	for _, p := range ps {
		parts := strings.Split(p.Dept, "/")
		for i := range parts {
			path := parts[:i+1]
			if ous[strings.Join(path, "/")] {
				continue
			}
			ous[strings.Join(path, "/")] = true
			l.Entry(ouDN(path)+ldapBase, "objectClass", "organizationalUnit", "ou", parts[i])
		}
	}
	for _, p := range ps {
		l.Entry("uid="+p.ID+","+ouDN(strings.Split(p.Dept, "/"))+ldapBase, "objectClass", "inetOrgPerson",
			"uid", p.ID, "cn", p.Name, "sn", p.Name, "mail", p.Email, "mobile", p.Mobile, "title", p.Position)
	}
	return l.String()
}

func ouDN(path []string) string {
	var b strings.Builder
	for i := len(path) - 1; i >= 0; i-- {
		b.WriteString("ou=" + path[i] + ",")
	}
	return b.String()
}

const ldapMapping = `mapping:
  key: uid
  user:
    userid: lower(uid)
    name: cn
    department: ou_path
    position: title
    mobile: mobile
    email: lower(mail)
`

func ldapSource(url, bindDN, password, timeout string) string {
	return fmt.Sprintf(`sources:
  - name: directory
    type: ldap
    config:
      url: %s
      bind_dn: %s
      bind_password: %s
      base_dn: %s
      filter: (objectClass=inetOrgPerson)
      attributes: [uid, cn, mail, mobile, title]
      key_attribute: uid
      page_size: 10
      timeout: %s
`, url, bindDN, password, ldapBase, timeout)
}

// blackhole accepts connections and never answers (an LDAP server that
// hangs).
func blackhole(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	return "ldap://" + ln.Addr().String()
}

// cutProxy forwards to addr but closes every connection once the server
// has sent limit bytes: the server "stops" in the middle of a paged read.
func cutProxy(t *testing.T, addr string, limit int64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				_, _ = io.CopyN(c, s, limit)
			}()
		}
	}()
	return "ldap://" + ln.Addr().String()
}

// TestFaultyLDAPSourceDoesNoHarm: after a good first sync from a real
// slapd, a sync where the server is stopped, stops mid-read, refuses the
// password, hangs, is empty, lost 40% of its people or hits a size limit
// does no harm and names the cause.
func TestFaultyLDAPSourceDoesNoHarm(t *testing.T) {
	t.Parallel()
	ps := company(pick(60, 200))
	for i := range ps {
		ps[i].Manager = "" // LDAP people here carry no manager attribute
	}
	seed := ldapSeed(ps)
	var some []person
	for i, p := range ps {
		if i%5 >= 2 {
			some = append(some, p)
		}
	}
	cases := []struct {
		name, cause string
		source      func(t *testing.T, s *testservers.Slapd) string
	}{
		{"server stopped", `(?i)connection refused|dial tcp|unreachable|network error`, func(t *testing.T, s *testservers.Slapd) string {
			s.Kill()
			return ldapSource(s.URL, s.ServiceDN, s.ServicePassword, "3s")
		}},
		{"server stops in the middle of the paged read", `(?i)closed|EOF|connection reset|incomplete|broken pipe`, func(t *testing.T, s *testservers.Slapd) string {
			return ldapSource(cutProxy(t, s.Addr, 4000), s.ServiceDN, s.ServicePassword, "3s")
		}},
		{"wrong password", `(?i)invalid credentials|Result Code 49|wrong password|bind as`, func(t *testing.T, s *testservers.Slapd) string {
			return ldapSource(s.URL, s.ServiceDN, "not-the-password", "3s")
		}},
		{"server hangs (timeout)", `(?i)timeout|timed out|deadline`, func(t *testing.T, s *testservers.Slapd) string {
			return ldapSource(blackhole(t), s.ServiceDN, s.ServicePassword, "2s")
		}},
		{"size limit hit mid-read", `(?i)size limit|sizelimit|limit exceeded|incomplete`, func(t *testing.T, s *testservers.Slapd) string {
			s2 := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed, SizeLimit: 25})
			return ldapSource(s2.URL, s2.ServiceDN, s2.ServicePassword, "3s")
		}},
		{"no people (empty base)", causeEmpty, func(t *testing.T, s *testservers.Slapd) string {
			s2 := testservers.StartSlapd(t, testservers.SlapdOptions{})
			return ldapSource(s2.URL, s2.ServiceDN, s2.ServicePassword, "3s")
		}},
		{"40% of the people missing", causeShrunk, func(t *testing.T, s *testservers.Slapd) string {
			s2 := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: ldapSeed(some)})
			return ldapSource(s2.URL, s2.ServiceDN, s2.ServicePassword, "3s")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed})
			emu := startEmulator(t, emulator.Options{RestrictedReads: true})
			dir := t.TempDir()
			c := cfg{Sources: ldapSource(s.URL, s.ServiceDN, s.ServicePassword, "3s"), URL: emu.URL, Dir: dir, Mapping: ldapMapping}
			first := runBin(t, time.Minute, "sync", "-c", writeConfig(t, c), "--log-level", "warn")
			if first.code != 0 {
				t.Fatalf("good first sync:\n%s", first)
			}
			before := readDirectory(emu.State())
			wantPS := append([]person(nil), ps...)
			for i := range wantPS {
				wantPS[i].Manager = ""
			}
			if d := diffDirectory(before, wantPS); len(d) > 0 {
				t.Fatalf("good first sync did not make the directory: %v", d)
			}
			c.Sources = tc.source(t, s)
			checkNoHarm(t, emu, before, writeConfig(t, c), tc.cause)
		})
	}
}

// hrAPI is an HR system's paged JSON API (page/page_size, bearer token,
// {"code":0,"data":{"items":[…],"total":N,"has_more":…}}) whose answers a
// test can break.
type hrAPI struct {
	mu    sync.Mutex
	ps    []person
	fault string
	token string
}

func (h *hrAPI) set(fault string, ps []person) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fault, h.ps = fault, ps
}

func (h *hrAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	fault, ps := h.fault, h.ps
	h.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+h.token {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":99991663,"msg":"invalid access token"}`))
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	size, _ := strconv.Atoi(r.URL.Query().Get("page_size"))
	if page < 1 || size < 1 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if page >= 2 {
		switch fault {
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"code":500,"msg":"internal error"}`))
			return
		case "hang":
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		case "code":
			_, _ = w.Write([]byte(`{"code":1254002,"msg":"system busy, data not ready"}`))
			return
		}
	}
	var items []map[string]string
	for i := (page - 1) * size; i < min(len(ps), page*size); i++ {
		p := ps[i]
		m := map[string]string{"id": p.ID, "name": p.Name, "dept": p.Dept, "mobile": p.Mobile, "email": p.Email,
			"position": p.Position, "status": p.Status, "manager": p.Manager}
		if fault == "renamed" {
			m["full_name"] = m["name"]
			delete(m, "name")
		}
		items = append(items, m)
	}
	b, _ := json.Marshal(map[string]any{"code": 0, "msg": "ok", "data": map[string]any{
		"items": items, "total": len(ps), "has_more": page*size < len(ps)}})
	if page >= 2 && (fault == "truncated" || fault == "drop") {
		if fault == "drop" {
			if hj, ok := w.(http.Hijacker); ok {
				if c, bw, err := hj.Hijack(); err == nil {
					_, _ = bw.WriteString(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(b)))
					_, _ = bw.Write(b[:len(b)/2])
					_ = bw.Flush()
					c.Close()
					return
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b[:len(b)/2])
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func httpSource(url, tokenFile string) string {
	return fmt.Sprintf(`sources:
  - name: hr
    type: http
    config:
      url: %s
      records_path: data.items
      total_path: data.total
      success_path: code
      message_path: msg
      timeout: 1s
      retry: {attempts: 2, min_wait: 10ms, max_wait: 50ms}
      auth: {type: bearer, token_file: %s}
      pagination: {type: page, param: page, size_param: page_size, size: 20, start: 1, has_more_path: data.has_more}
`, yq(url), yq(tokenFile))
}

// TestFaultyHTTPSourceDoesNoHarm: after a good first sync from an HR HTTP
// API, a sync where the API is down, fails a page, hangs, cuts or drops an
// answer, answers an error code, refuses the token, is empty, lost 40% of
// its people or renamed a field does no harm and names the cause.
func TestFaultyHTTPSourceDoesNoHarm(t *testing.T) {
	t.Parallel()
	ps := company(pick(60, 200))
	var some []person
	for i, p := range ps {
		if i%5 >= 2 {
			some = append(some, p)
		}
	}
	cases := []struct {
		name, fault, cause string
		people             []person
		badToken, down     bool
	}{
		{name: "API down", down: true, cause: `(?i)connection refused|dial tcp`},
		{name: "HTTP 500 on page 2", fault: "500", cause: `(?i)HTTP 500|Internal Server Error|internal error`},
		{name: "page 2 hangs (timeout)", fault: "hang", cause: `(?i)timeout|deadline|timed out`},
		{name: "page 2 cut in half", fault: "truncated", cause: `(?i)json|unexpected|EOF|page 2`},
		{name: "connection dropped in page 2", fault: "drop", cause: `(?i)EOF|closed|reset|unexpected|page 2`},
		{name: "error code on page 2", fault: "code", cause: `(?i)1254002|system busy`},
		{name: "token refused", badToken: true, cause: `(?i)HTTP 401|unauthori|invalid access token`},
		{name: "no people", people: []person{}, cause: causeEmpty},
		{name: "40% of the people missing", people: some, cause: causeShrunk},
		{name: "name field renamed", fault: "renamed", cause: causeColumns + `|name|field`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &hrAPI{ps: ps, token: "hr-token-123"}
			hr := httptest.NewServer(api)
			t.Cleanup(hr.Close)
			emu := startEmulator(t, emulator.Options{RestrictedReads: true})
			dir := t.TempDir()
			tokenFile := filepath.Join(dir, "hr.token")
			must(t, os.WriteFile(tokenFile, []byte("hr-token-123\n"), 0o600))
			c := cfg{Sources: httpSource(hr.URL+"/employees", tokenFile), URL: emu.URL, Dir: dir}
			cfgPath := writeConfig(t, c)
			before := goodFirstSync(t, emu.State, cfgPath, ps)
			people := ps
			if tc.people != nil {
				people = tc.people
			}
			api.set(tc.fault, people)
			if tc.badToken {
				must(t, os.WriteFile(tokenFile, []byte("a-stale-token\n"), 0o600))
			}
			if tc.down {
				hr.Close()
			}
			checkNoHarm(t, emu, before, cfgPath, tc.cause)
		})
	}
}

// goodFirstSync runs the first, clean sync of a fault test and checks it
// made the directory the people should produce; it returns that directory.
func goodFirstSync(t *testing.T, state func() emulator.Snapshot, cfgPath string, ps []person) directory {
	t.Helper()
	first := runBin(t, time.Minute, "sync", "-c", cfgPath, "--log-level", "warn")
	if first.code != 0 {
		t.Fatalf("good first sync:\n%s", first)
	}
	before := readDirectory(state())
	if d := diffDirectory(before, ps); len(d) > 0 {
		t.Fatalf("good first sync did not make the directory: %v", d)
	}
	return before
}
