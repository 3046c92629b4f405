package emulator

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Media size limits by type (wecom-api.md §5.1); every file must be over
// 5 bytes.
var mediaLimits = map[string]int{
	"image": 10 << 20,
	"voice": 2 << 20,
	"video": 10 << 20,
	"file":  20 << 20,
}

type mediaFile struct {
	typ     string
	data    []byte
	created time.Time
}

// lookupMedia finds a media_id that has not expired (40007 otherwise).
func (s *Server) lookupMedia(id string) (*mediaFile, *apiErr) {
	m := s.media[id]
	if m == nil {
		return nil, errf(40007, "invalid media_id")
	}
	if s.opts.Now().Sub(m.created) >= s.opts.MediaTTL {
		delete(s.media, id)
		return nil, errf(40007, "media_id expired")
	}
	return m, nil
}

func (s *Server) mediaUpload(c *call) (obj, *apiErr) {
	typ := c.q.Get("type")
	limit, ok := mediaLimits[typ]
	if !ok {
		return nil, errf(40004, "invalid media type %q, want image, voice, video or file", typ)
	}
	if c.file == nil || len(c.file.data) == 0 {
		return nil, errc(44001)
	}
	if len(c.file.data) <= 5 {
		return nil, errf(40006, "invalid file size %d, must be more than 5 bytes", len(c.file.data))
	}
	if len(c.file.data) > limit {
		return nil, errf(45001, "media size %d out of limit %d", len(c.file.data), limit)
	}
	if typ == "image" {
		switch strings.ToLower(path.Ext(c.file.filename)) {
		case ".jpg", ".jpeg", ".png":
		default:
			return nil, errf(40005, "invalid file type, image must be jpg or png")
		}
	}
	now := s.opts.Now()
	// Drop expired media so long runs don't accumulate files.
	for id, m := range s.media {
		if now.Sub(m.created) >= s.opts.MediaTTL {
			delete(s.media, id)
		}
	}
	id := "3" + newOpaqueID(48)
	s.media[id] = &mediaFile{typ: typ, data: c.file.data, created: now}
	return obj{{"type", typ}, {"media_id", id}, {"created_at", strconv.FormatInt(now.Unix(), 10)}}, nil
}

// Batch jobs. They run on the emulator's clock without goroutines: a job is
// applied by the first call (or State) after it is due, so a client that
// polls getresult, or simply reads, sees its effects; tests with an
// injected clock control exactly when. Jobs are the corp's, not a token's:
// any client of the corp reads any of the last keptJobs results, as long
// as JobResultTTL allows.

const keptJobs = 5

type job struct {
	id        string
	typ       string // sync_user, replace_user, replace_party
	submitted time.Time
	due       time.Time
	total     int
	applied   bool
	run       func() []any
	result    []any
}

type jobQueue struct {
	jobs   []*job          // the last keptJobs jobs, oldest first
	purged map[string]bool // ids whose results were dropped (40089)
}

func (s *Server) advanceJobs() {
	now := s.opts.Now()
	for _, j := range s.jobs.jobs {
		if !j.applied && !now.Before(j.due) {
			j.result = j.run()
			j.run = nil
			j.applied = true
		}
	}
}

func (s *Server) running() bool {
	for _, j := range s.jobs.jobs {
		if !j.applied {
			return true
		}
	}
	return false
}

// submitJob checks media_id and the one-job-at-a-time rule, then hands the
// file to prepare, which parses it and returns the row count and the work
// (or a file-level error).
func (s *Server) submitJob(c *call, typ string, prepare func(data []byte) (int, func() []any, *apiErr)) (obj, *apiErr) {
	mediaID, _, ok := c.b.str("media_id")
	if !ok || mediaID == "" {
		return nil, errc(41006)
	}
	m, e := s.lookupMedia(mediaID)
	if e != nil {
		return nil, e
	}
	if s.running() {
		return nil, errc(302008)
	}
	total, run, e := prepare(m.data)
	if e != nil {
		return nil, e
	}
	now := s.opts.Now()
	j := &job{id: "jobid_" + newOpaqueID(24), typ: typ, submitted: now, due: now.Add(s.jobDuration(total)), total: total, run: run}
	q := s.jobs
	q.jobs = append(q.jobs, j)
	for len(q.jobs) > keptJobs {
		q.purged[q.jobs[0].id] = true
		q.jobs = q.jobs[1:]
	}
	if s.opts.JobDelay < 0 {
		s.advanceJobs()
	}
	return obj{{"jobid", j.id}}, nil
}

// jobDuration is how long a job of n rows runs: JobDelay, plus n /
// JobRowsPerSecond when that is set; nothing when JobDelay is negative.
func (s *Server) jobDuration(n int) time.Duration {
	if s.opts.JobDelay < 0 {
		return 0
	}
	d := s.opts.JobDelay
	if s.opts.JobRowsPerSecond > 0 {
		d += time.Duration(float64(n) / s.opts.JobRowsPerSecond * float64(time.Second))
	}
	return d
}

func (s *Server) batchGetresult(c *call) (obj, *apiErr) {
	id := c.q.Get("jobid")
	if id == "" {
		return nil, errf(40088, "jobid missing")
	}
	if s.jobs.purged[id] {
		return nil, errc(40089)
	}
	var j *job
	for _, x := range s.jobs.jobs {
		if x.id == id {
			j = x
		}
	}
	if j == nil {
		return nil, errc(40088)
	}
	if ttl := s.opts.JobResultTTL; ttl > 0 && j.applied && s.opts.Now().Sub(j.due) >= ttl {
		return nil, errc(40089)
	}
	status, pct := 3, 100
	result := j.result
	if !j.applied {
		elapsed := s.opts.Now().Sub(j.submitted)
		delay := max(j.due.Sub(j.submitted), 1)
		status, pct = 2, int(min(99, elapsed*100/delay))
		if elapsed < delay/3 {
			status, pct = 1, 0
		}
		result = []any{}
	}
	return obj{{"status", status}, {"type", j.typ}, {"total", j.total}, {"percentage", pct}, {"result", result}}, nil
}

// csvTable is an import file: its header (canonical keys, "" for columns
// the emulator ignores) and data rows.
type csvTable struct {
	cols []string
	rows [][]string
}

// col returns a row's value for a canonical key and whether the file has
// that column.
func (t *csvTable) col(row []string, key string) (string, bool) {
	for i, k := range t.cols {
		if k == key {
			if i < len(row) {
				return strings.TrimSpace(row[i]), true
			}
			return "", true
		}
	}
	return "", false
}

func (t *csvTable) has(key string) bool {
	return slices.Contains(t.cols, key)
}

// userColumns maps the template headers of the member import file
// (community templates; 帐号 and 账号 both seen) to JSON field names.
var userColumns = map[string]string{
	"姓名": "name", "帐号": "userid", "账号": "userid", "userid": "userid",
	"手机号": "mobile", "手机": "mobile", "邮箱": "email", "个人邮箱": "email", "企业邮箱": "biz_mail",
	"所在部门": "department", "职位": "position", "性别": "gender", "是否部门内领导": "is_leader_in_dept",
	"排序": "order", "别名": "alias", "地址": "address", "座机": "telephone", "禁用": "disable",
	"直属上级": "direct_leader", "对外职务": "external_position",
}

// partyColumns maps the department import file's headers.
var partyColumns = map[string]string{
	"部门名称": "name", "部门ID": "id", "父部门ID": "parentid", "排序": "order",
}

// headerKey normalises a header cell: "姓名（必填）" and "姓名" are the same
// column.
func headerKey(h string) string {
	h = strings.TrimSpace(h)
	if i := strings.IndexAny(h, "(（"); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSpace(h)
}

// parseImportCSV reads a UTF-8 CSV, with or without a BOM. The header is
// the first row (within the first five) that names the key column; rows
// before it (template instructions) and blank rows are skipped. A file
// without the key column or without data rows is 40092.
func parseImportCSV(data []byte, columns map[string]string, keyCol string) (*csvTable, *apiErr) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	var records [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errf(40092, "invalid import file: %v", err)
		}
		records = append(records, rec)
	}
	t := &csvTable{}
	start := -1
	for i := 0; i < len(records) && i < 5; i++ {
		cols := make([]string, len(records[i]))
		found := false
		for j, h := range records[i] {
			cols[j] = columns[headerKey(h)]
			found = found || cols[j] == keyCol
		}
		if found {
			t.cols, start = cols, i
			break
		}
	}
	if start < 0 {
		return nil, errf(40092, "invalid import file: no header row with the %s column", keyCol)
	}
	for _, rec := range records[start+1:] {
		blank := true
		for _, v := range rec {
			blank = blank && strings.TrimSpace(v) == ""
		}
		if !blank {
			t.rows = append(t.rows, rec)
		}
	}
	if len(t.rows) == 0 {
		return nil, errf(40092, "invalid import file: no data rows")
	}
	return t, nil
}

func splitList(v string) []string {
	v = strings.ReplaceAll(v, "；", ";")
	var out []string
	for _, p := range strings.Split(v, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func rawJSON(v any) json.RawMessage {
	b, _ := marshalRaw(v)
	return b
}

// intList encodes "1;2" as [1,2]; a non-number stays a string so the JSON
// validation reports it as the API would.
func intList(v string, mapVal func(string) (int64, bool)) json.RawMessage {
	var out []any
	for _, p := range splitList(v) {
		if n, ok := mapVal(p); ok {
			out = append(out, n)
		} else {
			out = append(out, p)
		}
	}
	if out == nil {
		out = []any{}
	}
	return rawJSON(out)
}

func parseInt(p string) (int64, bool) {
	n, err := strconv.ParseInt(p, 10, 64)
	return n, err == nil
}

// userRowBody turns a member row into the JSON body user/create or
// user/update would get, so rows follow the synchronous APIs' rules.
//
// Empty cells: for a new member (create) they are fields not given. For an
// existing member (update) the file's columns are what syncuser updates
// (wecom-api.md §5.2), so by default an empty cell in a text column clears
// that field, as "" does on user/update; with EmptyStringKeepsField it
// leaves the field as is (which reading the real server takes is
// UNCONFIRMED). An empty 所在部门, 排序, 是否部门内领导 or 禁用 cell is never a
// value. The 直属上级 column is read only with ImportDirectLeaderColumn (the
// documented template has none): otherwise it is an unknown column,
// ignored like any other.
func (s *Server) userRowBody(t *csvTable, row []string, update bool) (body, *apiErr) {
	b := body{}
	clears := update && !s.opts.EmptyStringKeepsField
	for _, key := range []string{"userid", "name", "mobile", "email", "biz_mail", "position", "alias", "address", "telephone", "external_position"} {
		if v, has := t.col(row, key); v != "" || key == "userid" || (has && clears) {
			b[key] = rawJSON(v)
		}
	}
	if v, _ := t.col(row, "department"); v != "" {
		b["department"] = intList(v, parseInt)
	}
	if v, _ := t.col(row, "order"); v != "" {
		b["order"] = intList(v, parseInt)
	}
	if v, _ := t.col(row, "is_leader_in_dept"); v != "" {
		b["is_leader_in_dept"] = intList(v, func(p string) (int64, bool) {
			switch p {
			case "是", "1":
				return 1, true
			case "否", "0":
				return 0, true
			}
			return 0, false
		})
	}
	if v, has := t.col(row, "direct_leader"); s.opts.ImportDirectLeaderColumn && (v != "" || (has && clears)) {
		b["direct_leader"] = rawJSON(append([]string{}, splitList(v)...))
	}
	if v, has := t.col(row, "gender"); v != "" || (has && clears) {
		switch v {
		case "男", "1":
			b["gender"] = rawJSON("1")
		case "女", "2":
			b["gender"] = rawJSON("2")
		case "":
			b["gender"] = rawJSON("0")
		default:
			return nil, errf(40058, "invalid gender %q", v)
		}
	}
	// 禁用 is inverted relative to enable: 0 = enabled, 1 = disabled.
	if v, _ := t.col(row, "disable"); v != "" {
		switch v {
		case "0":
			b["enable"] = rawJSON(1)
		case "1":
			b["enable"] = rawJSON(0)
		default:
			return nil, errf(40058, "invalid 禁用 value %q, want 0 or 1", v)
		}
	}
	return b, nil
}

type userRowResult struct {
	UserID  string `json:"userid"`
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// prepareUsers parses a member import file and returns its row count, the
// set of userids it names, and the upsert work.
func (s *Server) prepareUsers(data []byte, full bool) (int, map[string]bool, func() []any, *apiErr) {
	t, e := parseImportCSV(data, userColumns, "userid")
	if e != nil {
		return 0, nil, nil, e
	}
	if full && (!t.has("name") || !t.has("department")) {
		return 0, nil, nil, errf(40092, "invalid import file: 姓名 and 所在部门 columns required")
	}
	named := map[string]bool{}
	for _, row := range t.rows {
		id, _ := t.col(row, "userid")
		if id == "" {
			continue
		}
		k := strings.ToLower(id)
		if named[k] {
			return 0, nil, nil, errf(302003, "duplicate userid %s in import file", id)
		}
		named[k] = true
	}
	run := func() []any {
		out := []any{}
		for _, row := range t.rows {
			id, _ := t.col(row, "userid")
			res := userRowResult{UserID: id}
			e := s.upsertRow(t, row)
			if e != nil {
				res.ErrCode, res.ErrMsg = e.code, e.message()
			} else {
				res.ErrMsg = "ok"
			}
			out = append(out, res)
		}
		return out
	}
	return len(t.rows), named, run, nil
}

func (s *Server) upsertRow(t *csvTable, row []string) *apiErr {
	id, _ := t.col(row, "userid")
	exists := s.dir.users[strings.ToLower(id)] != nil
	b, e := s.userRowBody(t, row, exists)
	if e != nil {
		return e
	}
	in, e := parseUserInput(b)
	if e != nil {
		return e
	}
	if exists {
		return s.updateUser(in)
	}
	return s.createUser(in)
}

func (s *Server) batchSyncuser(c *call) (obj, *apiErr) {
	return s.submitJob(c, "sync_user", func(data []byte) (int, func() []any, *apiErr) {
		n, _, run, e := s.prepareUsers(data, false)
		return n, run, e
	})
}

// replaceGuardTrips is the 45026 deletion guard: more than 50 deletions
// and more than 20% of members, or at most 50 and more than 80%.
func replaceGuardTrips(deletions, members int) bool {
	if deletions == 0 || members == 0 {
		return false
	}
	if deletions > 50 {
		return deletions*5 > members
	}
	return deletions*5 > members*4
}

func (s *Server) batchReplaceuser(c *call) (obj, *apiErr) {
	return s.submitJob(c, "replace_user", func(data []byte) (int, func() []any, *apiErr) {
		n, named, upsert, e := s.prepareUsers(data, true)
		if e != nil {
			return 0, nil, e
		}
		deletable := func() []*userRec {
			var out []*userRec
			for k, r := range s.dir.users {
				if !named[k] && !strings.EqualFold(r.u.UserID, s.opts.CreatorUserID) {
					out = append(out, r)
				}
			}
			return out
		}
		if del := deletable(); replaceGuardTrips(len(del), len(s.dir.users)) {
			return 0, nil, errf(45026, "trigger delete user protection: would delete %d of %d members", len(del), len(s.dir.users))
		}
		run := func() []any {
			out := upsert()
			for _, r := range deletable() {
				s.dir.removeUser(r)
			}
			return out
		}
		return n, run, nil
	})
}

type partyRow struct {
	name     string
	id       int64
	parentID int64
	order    int64
}

type partyRowResult struct {
	Action  int    `json:"action"`
	PartyID int64  `json:"partyid"`
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Party row actions (a bitmask).
const (
	actionCreated   = 1
	actionRenamed   = 2
	actionMoved     = 4
	actionReordered = 8
)

// parsePartyRows validates a department file as one tree: ids unique
// (302006), names and ids present and the tree connected without cycles
// (302004), sibling names unique (302007).
func parsePartyRows(t *csvTable) ([]partyRow, *apiErr) {
	if !t.has("name") || !t.has("parentid") {
		return nil, errf(40092, "invalid import file: 部门名称, 部门ID and 父部门ID columns required")
	}
	rows := make([]partyRow, 0, len(t.rows))
	byID := map[int64]int{}
	for _, rec := range t.rows {
		name, _ := t.col(rec, "name")
		idS, _ := t.col(rec, "id")
		pS, _ := t.col(rec, "parentid")
		oS, _ := t.col(rec, "order")
		id, ok1 := parseInt(idS)
		pid, ok2 := parseInt(pS)
		if name == "" || !ok1 || !ok2 || id < 1 {
			return nil, errf(302004, "invalid party structure: row needs name, id and parent id")
		}
		var order int64
		if oS != "" {
			v, ok := parseInt(oS)
			if !ok || v < 0 {
				return nil, errf(302004, "invalid order %q", oS)
			}
			order = v
		}
		if _, dup := byID[id]; dup {
			return nil, errf(302006, "duplicate partyid %d in import file", id)
		}
		byID[id] = len(rows)
		rows = append(rows, partyRow{name: name, id: id, parentID: pid, order: order})
	}
	names := map[int64]map[string]bool{}
	for _, r := range rows {
		if names[r.parentID] == nil {
			names[r.parentID] = map[string]bool{}
		}
		if names[r.parentID][r.name] {
			return nil, errf(302007, "duplicate department name %q under parent %d", r.name, r.parentID)
		}
		names[r.parentID][r.name] = true
	}
	// Every row must reach the root through rows of the file.
	for _, r := range rows {
		cur, steps := r, 0
		for cur.id != rootID {
			if cur.parentID == rootID {
				break
			}
			i, ok := byID[cur.parentID]
			steps++
			if !ok || steps > len(rows) {
				return nil, errf(302004, "invalid party structure: department %d does not reach the root", r.id)
			}
			cur = rows[i]
		}
		if r.id == rootID && r.parentID != 0 {
			return nil, errf(302004, "invalid party structure: root department must have parent 0")
		}
	}
	return rows, nil
}

func (s *Server) batchReplaceparty(c *call) (obj, *apiErr) {
	return s.submitJob(c, "replace_party", func(data []byte) (int, func() []any, *apiErr) {
		t, e := parseImportCSV(data, partyColumns, "id")
		if e != nil {
			return 0, nil, e
		}
		rows, e := parsePartyRows(t)
		if e != nil {
			return 0, nil, e
		}
		return len(rows), func() []any { return s.replaceParty(rows) }, nil
	})
}

// replaceParty applies a department file: rows parents first, each
// through the department/create or department/update rules; then
// departments missing from the file are deleted deepest first, but only
// when empty.
func (s *Server) replaceParty(rows []partyRow) []any {
	d := s.dir
	byID := map[int64]partyRow{} // also: which departments the file names
	for _, r := range rows {
		byID[r.id] = r
	}
	depths := map[int64]int{}
	var depth func(r partyRow) int
	depth = func(r partyRow) int {
		if v, ok := depths[r.id]; ok {
			return v
		}
		n := 0
		if p, ok := byID[r.parentID]; ok && r.id != rootID {
			n = depth(p) + 1
		}
		depths[r.id] = n
		return n
	}
	sorted := append([]partyRow(nil), rows...)
	sort.SliceStable(sorted, func(i, j int) bool { return depth(sorted[i]) < depth(sorted[j]) })
	out := []any{}
	for _, r := range sorted {
		res := partyRowResult{PartyID: r.id}
		b := body{"id": rawJSON(r.id), "name": rawJSON(r.name)}
		if r.id != rootID {
			b["parentid"] = rawJSON(r.parentID)
		}
		// An empty or 0 order means "leave the order as it is".
		if r.order != 0 {
			b["order"] = rawJSON(r.order)
		}
		c := &call{b: b}
		var e *apiErr
		if x := d.depts[r.id]; x == nil {
			_, e = s.departmentCreate(c)
			res.Action = actionCreated
		} else {
			before := *x
			_, e = s.departmentUpdate(c)
			if x.name != before.name {
				res.Action |= actionRenamed
			}
			if x.parent != before.parent {
				res.Action |= actionMoved
			}
			if x.order != before.order {
				res.Action |= actionReordered
			}
		}
		if e != nil {
			res.Action, res.ErrCode, res.ErrMsg = 0, e.code, e.message()
		} else {
			res.ErrMsg = "ok"
		}
		out = append(out, res)
	}
	var missing []*dept
	for id, x := range d.depts {
		if _, inFile := byID[id]; id != rootID && !inFile {
			missing = append(missing, x)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return d.depth(missing[i].id) > d.depth(missing[j].id) })
	for _, x := range missing {
		if len(x.members) == 0 && len(x.children) == 0 {
			d.removeDept(x)
		}
	}
	return out
}
