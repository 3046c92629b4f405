package wecom

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// DefaultBatchThreshold is how many member creates and updates make a run
// use WeCom's import job (media/upload + batch/syncuser + batch/getresult:
// a handful of calls a file) instead of one call each.
const DefaultBatchThreshold = 2000

// minJobRows is the smallest file worth a job: below it, one call each is
// as few writes and takes less time than the job's upload, submit and
// polls.
const minJobRows = 100

// jobRow is one member change going through an import file.
type jobRow struct {
	u      plan.UserChange
	before any
	sent   model.Person   // what the row sets, journaled as after
	mut    state.Mutation // the shadow mutation once WeCom confirms the row
	entry  int64
	cells  []string // by importColumns
}

// importFile is one import job's rows and the columns its file has.
type importFile struct {
	what string // for logs: "member creates", "member updates (职位)"
	cols []bool // by importColumns
	rows []*jobRow
}

// Columns of the member template orgsync may fill (wecom-api.md §5.3), by
// index into importColumns.
const (
	colName = iota
	colUserID
	colMobile
	colEmail
	colBizMail
	colDepartment
	colPosition
	colGender
	colLeaderInDept
	colAlias
	colTelephone
	colDisable
	colDirectLeader
	numColumns
)

// importColumns are the member template's headers, in file order. Only
// the columns a file's rows mean to set go into it: batch/syncuser updates
// the columns present, and an empty cell in a present column may clear
// the field (UNCONFIRMED which; the emulator's default reading is that it
// does), so a row never has an empty cell it did not mean.
var importColumns = [numColumns]string{
	colName: "姓名", colUserID: "帐号", colMobile: "手机号", colEmail: "邮箱", colBizMail: "企业邮箱",
	colDepartment: "所在部门", colPosition: "职位", colGender: "性别", colLeaderInDept: "是否部门内领导",
	colAlias: "别名", colTelephone: "座机", colDisable: "禁用", colDirectLeader: "直属上级",
}

// fieldColumns maps the plan's update fields to the columns that carry
// them. A field missing here (main_department, extattr; direct_leader
// without Applier.ImportLeaderColumn) is not in the template: an update of
// it goes one call.
var fieldColumns = map[string][]int{
	"name": {colName}, "alias": {colAlias}, "position": {colPosition}, "mobile": {colMobile},
	"email": {colEmail}, "biz_mail": {colBizMail}, "telephone": {colTelephone}, "gender": {colGender},
	"department": {colDepartment, colLeaderInDept}, "is_leader_in_dept": {colDepartment, colLeaderInDept},
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ";")
}

// genderCell is the template's 性别 value (男/女, as community templates
// write it; "" unset).
func genderCell(g model.Gender) string {
	switch g {
	case model.GenderMale:
		return "男"
	case model.GenderFemale:
		return "女"
	}
	return ""
}

// rowCells fills every column orgsync can for p.
func rowCells(p *model.Person, depts, leader []int, leaders []string) []string {
	c := make([]string, numColumns)
	c[colName], c[colUserID], c[colMobile], c[colEmail], c[colBizMail] = p.Name, p.UserID, p.Mobile, p.Email, p.BizMail()
	c[colDepartment], c[colLeaderInDept] = joinInts(depts), joinInts(leader)
	c[colPosition], c[colGender], c[colAlias], c[colTelephone] = p.Position, genderCell(p.Gender), p.Alias(), p.Telephone()
	c[colDisable] = "0" // 0 = enabled (the opposite of enable)
	c[colDirectLeader] = strings.Join(leaders, ";")
	return c
}

// useJobs reports whether this run's member creates and updates go
// through import jobs: more of them than the threshold.
func (r *applyRun) useJobs(ch *plan.Changes) bool {
	return r.BatchThreshold > 0 && len(ch.UserCreates)+len(ch.UserUpdates)+len(ch.UserMoves) > r.BatchThreshold
}

// createJob creates members through one import job and returns the
// creates to make one call each instead: those not in the file (extension
// attributes are not in the template), those whose rows the job rejected,
// or all of them when the job could not be submitted. With
// ImportLeaderColumn, direct leaders go in the file (leaders' rows before
// their reports'); without, they are linked afterwards (leaderLinks), as
// for creates made one call each.
func (r *applyRun) createJob(list []plan.UserChange) []plan.UserChange {
	var rest []plan.UserChange
	f := &importFile{what: "member creates", cols: make([]bool, numColumns)}
	for _, c := range []int{colName, colUserID, colDepartment, colDisable} {
		f.cols[c] = true
	}
	order := list
	if r.ImportLeaderColumn {
		order = slices.Concat(createWaves(list)...)
	}
	inFile := map[string]bool{}
	for _, u := range order {
		p := *u.After
		if len(p.ExtAttrs()) > 0 {
			rest = append(rest, u)
			continue
		}
		depts, leader, _, err := r.departments(&p)
		if err != nil {
			r.failNoCall(u.Op, u.UserID, err)
			continue
		}
		sent := p
		sent.Enabled, sent.DirectLeaders = true, nil
		sent.SetMainDepartment("")
		if r.ImportLeaderColumn {
			for _, l := range p.DirectLeaders {
				if inFile[model.UserIDKey(l)] || len(r.existingLeaders([]string{l})) > 0 {
					sent.DirectLeaders = append(sent.DirectLeaders, l)
				}
			}
		}
		inFile[model.UserIDKey(p.UserID)] = true
		row := &jobRow{u: u, sent: sent, mut: state.Mutation{PutMember: &state.Member{Person: sent}},
			cells: rowCells(&sent, depts, leader, sent.DirectLeaders)}
		for i, v := range row.cells {
			f.cols[i] = f.cols[i] || v != ""
		}
		f.rows = append(f.rows, row)
	}
	if len(f.rows) == 0 {
		return rest
	}
	return append(rest, r.runJob(f)...)
}

// updateJobs makes member updates and moves through import jobs, one file
// per set of columns the rows change (so no row carries a column it does
// not mean to set), and returns the changes to make one call each: those
// whose fields the template cannot carry (main_department, extattr,
// direct_leader without ImportLeaderColumn), that clear a field (an
// empty cell's meaning is UNCONFIRMED), adoptions (they set enable too),
// files too small for a job, and rows a job rejected.
func (r *applyRun) updateJobs(list []plan.UserChange) []plan.UserChange {
	var rest []plan.UserChange
	files := map[string]*importFile{}
	var keys []string
	for _, u := range list {
		row, cols := r.updateRow(u)
		if row == nil {
			rest = append(rest, u)
			continue
		}
		var key strings.Builder
		for i, on := range cols {
			if on && i != colUserID {
				key.WriteString(importColumns[i] + " ")
			}
		}
		k := strings.TrimSpace(key.String())
		f := files[k]
		if f == nil {
			f = &importFile{what: "member updates (" + k + ")", cols: cols}
			files[k] = f
			keys = append(keys, k)
		}
		f.rows = append(f.rows, row)
	}
	for _, k := range keys {
		f := files[k]
		if len(f.rows) < minJobRows {
			for _, row := range f.rows {
				rest = append(rest, row.u)
			}
			continue
		}
		rest = append(rest, r.runJob(f)...)
	}
	return rest
}

// updateRow is u as an import row with the columns it sets, or nil when it
// must go one call.
func (r *applyRun) updateRow(u plan.UserChange) (*jobRow, []bool) {
	cur := r.member(u.UserID)
	if u.Adopt || u.After == nil || cur == nil || len(u.Fields) == 0 {
		return nil, nil
	}
	p := *u.After
	depts, leader, _, err := r.departments(&p)
	if err != nil {
		return nil, nil // the call path reports it
	}
	sent := p
	sent.Enabled = cur.Person.Enabled
	sent.DirectLeaders = cur.Person.DirectLeaders
	cols := make([]bool, numColumns)
	cols[colUserID] = true
	for _, f := range u.Fields {
		cs, ok := fieldColumns[f]
		if f == "direct_leader" && r.ImportLeaderColumn {
			sent.DirectLeaders = r.existingLeaders(p.DirectLeaders)
			cs, ok = []int{colDirectLeader}, true
		}
		if !ok {
			return nil, nil
		}
		for _, c := range cs {
			cols[c] = true
		}
	}
	cells := rowCells(&sent, depts, leader, sent.DirectLeaders)
	for i, on := range cols {
		if on && cells[i] == "" {
			return nil, nil // clears a field: one call, where "" is known to clear
		}
	}
	return &jobRow{u: u, before: u.Before, sent: sent, cells: cells, mut: rowMutation(sent, cur)}, cols
}

// rowMutation is the shadow mutation of an import row WeCom applied: sent
// as last applied, keeping the adoption and leaver clock of the member's
// shadow row cur (nil for a create).
func rowMutation(sent model.Person, cur *state.Member) state.Mutation {
	m := &state.Member{Person: sent}
	if cur != nil {
		m.Adopted, m.DisabledAt = cur.Adopted, cur.DisabledAt
	}
	return state.Mutation{PutMember: m}
}

// runJob makes one import job of f and returns the changes to make one call
// each instead: rows the job rejected (the call path then gives the
// member's own errcode, or succeeds where the file's reading differed), or
// all of them when the file could not be uploaded or the job was refused.
// Every row is journaled before the upload, and the job, with its rows,
// as soon as WeCom gives its jobid (jobJournal): a job whose outcome
// can't be read here (the run killed or the wait timed out while it ran)
// leaves its rows pending or uncertain, and the next run awaits the job
// and settles each row from its line of the result (AwaitJobs). Only rows
// no result names (the submit's answer lost, so no jobid; WeCom forgot the
// job) are settled from list_id (a create) or planned again (an update:
// idempotent).
func (r *applyRun) runJob(f *importFile) []plan.UserChange {
	rows := f.rows
	var rest []plan.UserChange
	calls := func() []plan.UserChange {
		for _, row := range rows {
			rest = append(rest, row.u)
		}
		return rest
	}
	if why, ok := r.stoppedWhy(rows[0].u.Op); ok {
		for _, row := range rows {
			r.pending(row.u.Op, row.u.UserID, why)
		}
		return nil
	}
	file := f.bytes()
	if err := r.beginRows(rows); err != nil {
		r.setAbort(fmt.Errorf("journal: %w", err))
		return nil
	}
	finishAll := func(status string, code int, msg string) bool {
		out := make([]state.FinishEntry, len(rows))
		for i, row := range rows {
			out[i] = state.FinishEntry{ID: row.entry, Status: status, Errcode: code, Errmsg: msg}
		}
		if err := r.finishRows(out); err != nil {
			r.setAbort(fmt.Errorf("journal: %w", err))
			return false
		}
		return true
	}
	log := r.Log.With(zap.String("file", f.what), zap.Int("rows", len(rows)))
	media, err := r.Client.UploadMedia(r.ctx, "file", "orgsync-members.csv", file)
	if err != nil {
		// Nothing was imported: the rows go one call each.
		log.Warn("import file upload failed; making the changes one call each", zap.Error(err))
		if !finishAll(state.StatusFailed, client.Code(err), "import upload failed, made one call each instead: "+err.Error()) {
			return nil
		}
		return calls()
	}
	var job string
	for attempt := 0; ; attempt++ {
		job, err = r.Client.SyncUsers(r.ctx, client.BatchJob{MediaID: media.MediaID, ToInvite: client.Ptr(r.Invite)})
		if !client.IsCode(err, client.CodeJobRunning) || attempt == 5 {
			break
		}
		// Another import job runs (302008): WeCom runs one at a time.
		if serr := r.Client.Sleep(r.ctx, time.Duration(attempt+1)*2*time.Second); serr != nil {
			err = serr
			break
		}
	}
	if err != nil {
		if client.IsUncertain(err) {
			// The job may have been submitted: the next run settles each row.
			if finishAll(state.StatusUncertain, client.Code(err), "import job submit: "+err.Error()) {
				for _, row := range rows {
					r.pending(row.u.Op, row.u.UserID, "outcome unknown (the import job's answer was lost): the next run settles it")
				}
			}
			return nil
		}
		if client.IsCode(err, client.CodeJobRunning) {
			// Someone else's job still runs (an earlier run's own was
			// awaited before this run planned, see AwaitJobs): making the
			// rows one call each now could race it. Nothing was sent; the
			// next run makes them.
			if finishAll(state.StatusFailed, client.Code(err), "import job not submitted: another import job is still running (302008)") {
				for _, row := range rows {
					r.pending(row.u.Op, row.u.UserID, "another import job is still running (302008): the next run makes this change")
				}
			}
			log.Warn("another import job is still running (302008); leaving the changes to the next run", zap.Error(err))
			return nil
		}
		if !finishAll(state.StatusFailed, client.Code(err), "import job refused, made one call each instead: "+err.Error()) {
			return nil
		}
		log.Warn("import job refused; making the changes one call each", zap.Error(err))
		return calls()
	}
	log.Info("member import job submitted", zap.String("job", job))
	recorded := r.recordJob(job, rows, log)
	timeout := r.jobTimeout(len(rows))
	res, err := r.Client.WaitBatchResult(r.ctx, job, time.Second, timeout)
	if err != nil {
		// Submitted, result unknown: the next run awaits the job (when it
		// was recorded) or settles each row from WeCom's lists.
		why := "outcome unknown (the import job's result could not be read): the next run settles it"
		if recorded != 0 {
			why = fmt.Sprintf("import job %s not finished after %s (or its result could not be read): the next run awaits its result and settles this row from it", job, timeout)
		}
		if finishAll(state.StatusUncertain, client.Code(err), fmt.Sprintf("import job %s: result unknown: %v", job, err)) {
			for _, row := range rows {
				r.pending(row.u.Op, row.u.UserID, why)
			}
		}
		log.Warn("member import job not finished; the next run awaits it", zap.String("job", job), zap.Duration("waited", timeout), zap.Error(err))
		return nil
	}
	byID := jobResults(res)
	failed := 0
	outcomes := make([]state.FinishEntry, len(rows))
	for i, row := range rows {
		x, ok := byID[model.UserIDKey(row.u.UserID)]
		o := state.FinishEntry{ID: row.entry, Status: state.StatusDone, Mut: row.mut}
		switch {
		case !ok:
			o = state.FinishEntry{ID: row.entry, Status: state.StatusUncertain, Errmsg: fmt.Sprintf("import job %s gave no result for this row", job)}
		case x.ErrCode != 0:
			o = state.FinishEntry{ID: row.entry, Status: state.StatusFailed, Errcode: x.ErrCode, Errmsg: fmt.Sprintf("import job %s: errcode %d (%s), made one call instead", job, x.ErrCode, x.ErrMsg)}
		}
		outcomes[i] = o
	}
	if err := r.settleRows(recorded, outcomes); err != nil {
		r.setAbort(fmt.Errorf("journal: %w", err))
		return rest
	}
	for i, row := range rows {
		status, msg, mut := outcomes[i].Status, outcomes[i].Errmsg, outcomes[i].Mut
		switch status {
		case state.StatusDone:
			r.succeeded(row.u.Op, mut)
			r.tick()
		case state.StatusUncertain:
			r.pending(row.u.Op, row.u.UserID, msg+": the next run settles it")
		default:
			failed++
			rest = append(rest, row.u)
		}
	}
	log.Info("member import job finished", zap.String("job", job), zap.Int("rows_failed", failed))
	return rest
}

// manyJournal is a journal that records a job's rows in one transaction
// (the state store); others (a test's wrapper) get one Begin and one
// Finish a row.
type manyJournal interface {
	BeginMany(ctx context.Context, runID int64, entries []state.BeginEntry) ([]int64, error)
	FinishMany(ctx context.Context, entries []state.FinishEntry) error
}

// beginRows journals a job's rows before its upload: all, or none.
func (r *applyRun) beginRows(rows []*jobRow) error {
	if j, ok := r.Journal.(manyJournal); ok {
		entries := make([]state.BeginEntry, len(rows))
		for i, row := range rows {
			entries[i] = state.BeginEntry{Op: string(row.u.Op), Object: row.u.UserID, Before: row.before, After: row.sent}
		}
		ids, err := j.BeginMany(r.ctx, r.RunID, entries)
		if err != nil {
			return err
		}
		for i, row := range rows {
			row.entry = ids[i]
		}
		return nil
	}
	for _, row := range rows {
		id, err := r.Journal.Begin(r.ctx, r.RunID, string(row.u.Op), row.u.UserID, row.before, row.sent)
		if err != nil {
			return err
		}
		row.entry = id
	}
	return nil
}

// finishRows records a job's outcomes, after the job (never cancelled:
// what WeCom did must be written down).
func (r *applyRun) finishRows(out []state.FinishEntry) error {
	ctx := context.WithoutCancel(r.ctx)
	if j, ok := r.Journal.(manyJournal); ok {
		return j.FinishMany(ctx, out)
	}
	for _, o := range out {
		if err := r.Journal.Finish(ctx, o.ID, o.Status, o.Errcode, o.Errmsg, o.Mut); err != nil {
			return err
		}
	}
	return nil
}

// jobJournal is a journal that also keeps import jobs across runs (the
// state store): the job and its rows are recorded when WeCom gives the
// jobid, and settled with the rows' outcomes once its result is read.
// Without it (a test's wrapper) a job that outlives its run is settled
// from WeCom's lists, as a lost answer is.
type jobJournal interface {
	RecordImportJob(ctx context.Context, runID int64, job string, entries []int64) (int64, error)
	SettleImportJob(ctx context.Context, jobID int64, outcome string, entries []state.FinishEntry) error
}

// recordJob records a submitted job with its rows and returns its id in
// the store, 0 when it could not be recorded (the rows stay journaled:
// the next run then settles them from WeCom's lists). It writes even when
// the run's context has ended: the job exists whatever happens to the run.
func (r *applyRun) recordJob(job string, rows []*jobRow, log *zap.Logger) int64 {
	j, ok := r.Journal.(jobJournal)
	if !ok {
		return 0
	}
	entries := make([]int64, len(rows))
	for i, row := range rows {
		entries[i] = row.entry
	}
	id, err := j.RecordImportJob(context.WithoutCancel(r.ctx), r.RunID, job, entries)
	if err != nil {
		log.Warn("import job not recorded: if it outlives this run, its rows are settled from WeCom's lists", zap.String("job", job), zap.Error(err))
		return 0
	}
	return id
}

// settleRows records a finished job's outcomes and, when the job was
// recorded (jobID ≠ 0), closes it in the same transaction.
func (r *applyRun) settleRows(jobID int64, out []state.FinishEntry) error {
	if j, ok := r.Journal.(jobJournal); ok && jobID != 0 {
		return j.SettleImportJob(context.WithoutCancel(r.ctx), jobID, state.JobFinished, out)
	}
	return r.finishRows(out)
}

// jobResults indexes a finished user job's per-row results by userid
// (WeCom compares userids case-insensitively).
func jobResults(res *client.JobResult) map[string]client.JobRowRes {
	byID := make(map[string]client.JobRowRes, len(res.Result))
	for _, x := range res.Result {
		byID[model.UserIDKey(x.UserID)] = x
	}
	return byID
}

// jobTimeout is how long a job of n rows is waited for: the
// configured JobTimeout, else defaultJobTimeout.
func (r *applyRun) jobTimeout(n int) time.Duration {
	if r.JobTimeout > 0 {
		return r.JobTimeout
	}
	return defaultJobTimeout(n)
}

// defaultJobTimeout is 5 minutes plus 20 ms a row (WeCom publishes no
// speed; this allows 50 rows a second).
func defaultJobTimeout(n int) time.Duration {
	return 5*time.Minute + time.Duration(n)*20*time.Millisecond
}

// bytes writes the file as the member template, UTF-8 with a BOM, with
// f's columns.
func (f *importFile) bytes() []byte {
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	var header []string
	for i, h := range importColumns {
		if f.cols[i] {
			header = append(header, h)
		}
	}
	_ = w.Write(header)
	rec := make([]string, 0, len(header))
	for _, row := range f.rows {
		rec = rec[:0]
		for i := range importColumns {
			if f.cols[i] {
				rec = append(rec, row.cells[i])
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

// jobStore is the part of the state store AwaitJobs reads and settles:
// the import jobs earlier runs left open and their unsettled rows.
type jobStore interface {
	jobJournal
	OpenImportJobs(ctx context.Context) ([]state.ImportJob, error)
	ImportJobEntries(ctx context.Context, jobID int64) ([]state.Entry, error)
	ShadowMembers(ctx context.Context, userids []string) (map[string]*state.Member, error)
}

// AwaitJobs settles the import jobs earlier runs submitted and left open
// (the wait timed out, the run was killed or cancelled after the submit),
// before WeCom is read: what the next plan sees of those rows is then
// final. j is the run's journal; one that keeps no jobs (not the state
// store) has none to await.
//
// For each open job, oldest first, it polls batch/getresult for at most
// defaultJobTimeout of the rows still unsettled (whatever job_timeout
// says: that bounds the submitting run's wait, and this one must not give
// up sooner than a sane job takes), then:
//   - finished: each row the result names is settled from its line, as
//     the submitting run would have: errcode 0 → resolved, with its
//     shadow mutation; a row error → failed, so the plan makes it again.
//     A row the result does not name keeps its status, for the list-based
//     settle (directory.Settle) that follows.
//   - WeCom no longer knows the job (40088, 40089): the job is closed as
//     unknown and every row is left for the list-based settle.
//   - still running after the bound: nothing is settled and the job stays
//     open; the returned running names it, one line a job (and the log
//     says so as a warning). The caller must
//     then neither submit another job nor make those rows' changes one
//     call each (either would race the job): the engine stops the run.
//
// err is set when a job's state could not be read (WeCom unreachable, the
// context ended) or the store could not be written: nothing is known, so
// the run must not go on.
func (d *Directory) AwaitJobs(ctx context.Context, j directory.Journal) (running []string, err error) {
	return d.AwaitJobsFor(ctx, j, 0)
}

// AwaitJobsFor is AwaitJobs waiting at most maxWait for each job (0: the
// bound above). A plan passes a moment: it looks once, so that an operator
// at a terminal learns at once that a job still runs rather than after
// minutes.
func (d *Directory) AwaitJobsFor(ctx context.Context, j directory.Journal, maxWait time.Duration) (running []string, err error) {
	st, ok := j.(jobStore)
	if !ok {
		return nil, nil
	}
	jobs, err := st.OpenImportJobs(ctx)
	if err != nil {
		return nil, err
	}
	log := d.log.Named("jobs")
	for _, job := range jobs {
		entries, err := st.ImportJobEntries(ctx, job.ID)
		if err != nil {
			return running, err
		}
		jlog := log.With(zap.String("job", job.Job), zap.Int64("run_id", job.RunID), zap.Int("rows", len(entries)))
		if len(entries) == 0 {
			// Every row was settled already (in the submitting run, after
			// the job was recorded): nothing to wait for.
			if err := st.SettleImportJob(ctx, job.ID, state.JobFinished, nil); err != nil {
				return running, err
			}
			continue
		}
		bound := defaultJobTimeout(len(entries))
		if maxWait > 0 {
			bound = min(bound, maxWait)
		}
		jlog.Info("awaiting an import job an earlier run left open", zap.Time("submitted_at", job.SubmittedAt), zap.Duration("bound", bound))
		res, err := d.client.WaitBatchResult(ctx, job.Job, time.Second, bound)
		switch {
		case errors.Is(err, client.ErrJobTimeout):
			waited := "after waiting " + bound.String()
			if bound < time.Second {
				waited = "when looked at (a plan does not wait for it)"
			}
			msg := fmt.Sprintf("import job %s of run %d, %d rows, not finished %s", job.Job, job.RunID, len(entries), waited)
			jlog.Warn("an import job of an earlier run is still running; its rows stay pending", zap.Duration("waited", bound), zap.Error(err))
			running = append(running, msg)
			continue
		case client.IsJobGone(err):
			jlog.Warn("WeCom no longer knows an import job of an earlier run; its rows are settled from WeCom's lists", zap.Error(err))
			if err := st.SettleImportJob(ctx, job.ID, state.JobUnknown, nil); err != nil {
				return running, err
			}
			continue
		case err != nil:
			return running, fmt.Errorf("await import job %s of run %d: %w", job.Job, job.RunID, err)
		}
		out, counts, err := settleFromResult(ctx, st, job.Job, entries, res)
		if err != nil {
			return running, err
		}
		if err := st.SettleImportJob(ctx, job.ID, state.JobFinished, out); err != nil {
			return running, err
		}
		jlog.Info("settled the rows of an earlier run's import job from its result",
			zap.Int("rows_made", counts[state.StatusResolved]), zap.Int("rows_failed", counts[state.StatusFailed]),
			zap.Int("rows_not_in_result", len(entries)-len(out)))
	}
	return running, nil
}

// settleFromResult is the outcome of each of a finished job's entries its
// result names (see AwaitJobs), and how many got each status.
func settleFromResult(ctx context.Context, st jobStore, job string, entries []state.Entry, res *client.JobResult) ([]state.FinishEntry, map[string]int, error) {
	byID := jobResults(res)
	var updates []string
	for _, en := range entries {
		if plan.Op(en.Op) != plan.OpUserCreate {
			updates = append(updates, en.Object)
		}
	}
	shadow, err := st.ShadowMembers(ctx, updates)
	if err != nil {
		return nil, nil, err
	}
	counts := map[string]int{}
	var out []state.FinishEntry
	for _, en := range entries {
		x, ok := byID[model.UserIDKey(en.Object)]
		if !ok {
			continue
		}
		o := state.FinishEntry{ID: en.ID, Status: state.StatusFailed, Errcode: x.ErrCode,
			Errmsg: fmt.Sprintf("settled by a later run from import job %s's result: errcode %d (%s); planned again if still needed", job, x.ErrCode, x.ErrMsg)}
		if x.ErrCode == 0 {
			var sent model.Person
			if err := json.Unmarshal(en.After, &sent); err != nil || sent.UserID == "" {
				// The row can't be read back: the list-based settle decides.
				continue
			}
			var cur *state.Member
			if plan.Op(en.Op) != plan.OpUserCreate {
				cur = shadow[model.UserIDKey(en.Object)]
			}
			o = state.FinishEntry{ID: en.ID, Status: state.StatusResolved, Mut: rowMutation(sent, cur),
				Errmsg: fmt.Sprintf("settled by a later run from import job %s's result: made", job)}
		}
		counts[o.Status]++
		out = append(out, o)
	}
	return out, counts, nil
}
