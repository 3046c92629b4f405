package wecom

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// DefaultBatchThreshold is how many member creates make a run use WeCom's
// import job (media/upload + batch/syncuser + batch/getresult: a handful
// of calls) instead of one call each.
const DefaultBatchThreshold = 2000

// batchRow is one create going through the import file.
type batchRow struct {
	u     plan.UserChange
	sent  model.Person
	entry int64
	cells []string
}

// importColumns are the member template's columns orgsync may fill, in
// order (wecom-api.md §5.3). Only those some row sets go into the file:
// batch/syncuser updates the columns present, so an absent column is left
// as WeCom has it.
var importColumns = []struct {
	header string
	get    func(p *model.Person, depts, leader []int) string
	always bool
}{
	{"姓名", func(p *model.Person, _, _ []int) string { return p.Name }, true},
	{"帐号", func(p *model.Person, _, _ []int) string { return p.UserID }, true},
	{"手机号", func(p *model.Person, _, _ []int) string { return p.Mobile }, false},
	{"邮箱", func(p *model.Person, _, _ []int) string { return p.Email }, false},
	{"企业邮箱", func(p *model.Person, _, _ []int) string { return p.BizMail }, false},
	{"所在部门", func(_ *model.Person, d, _ []int) string { return joinInts(d) }, true},
	{"职位", func(p *model.Person, _, _ []int) string { return p.Position }, false},
	{"性别", func(p *model.Person, _, _ []int) string { return string(p.Gender) }, false},
	{"是否部门内领导", func(_ *model.Person, _, l []int) string { return joinInts(l) }, false},
	{"别名", func(p *model.Person, _, _ []int) string { return p.Alias }, false},
	{"座机", func(p *model.Person, _, _ []int) string { return p.Telephone }, false},
	{"禁用", func(*model.Person, []int, []int) string { return "0" }, true}, // 0 = enabled (the opposite of enable)
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ";")
}

// batchCreates creates members through one import job and returns the
// creates to make one call each instead: those whose rows the job
// rejected for a reason a retry may cure, or all of them when the job
// could not be submitted. Every row is journaled before the upload; a job
// whose outcome can't be read (its answer lost, the run killed while it
// ran) leaves its rows pending or uncertain, and the next run settles them
// from list_id like any create. Direct leaders are linked afterwards
// (leaderLinks), as for creates made one call each. Extension attributes
// are not in the file: members with them are created one call each.
func (r *applyRun) batchCreates(list []plan.UserChange) []plan.UserChange {
	var rows []*batchRow
	var rest []plan.UserChange
	for _, u := range list {
		p := *u.After
		if len(p.ExtAttrs) > 0 {
			rest = append(rest, u)
			continue
		}
		depts, leader, _, err := r.departments(&p)
		if err != nil {
			r.failNoCall(u.Op, u.UserID, err)
			continue
		}
		sent := p
		sent.Enabled, sent.DirectLeaders, sent.MainDepartment = true, nil, ""
		row := &batchRow{u: u, sent: sent}
		for _, c := range importColumns {
			row.cells = append(row.cells, c.get(&sent, depts, leader))
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return rest
	}
	if why, ok := r.stoppedWhy(plan.OpUserCreate); ok {
		for _, row := range rows {
			r.pending(row.u.Op, row.u.UserID, why)
		}
		return rest
	}
	file := importFile(rows)
	for _, row := range rows {
		id, err := r.Journal.Begin(r.ctx, r.RunID, string(plan.OpUserCreate), row.u.UserID, nil, row.sent)
		if err != nil {
			r.setAbort(fmt.Errorf("journal: %w", err))
			return nil
		}
		row.entry = id
	}
	finishAll := func(status string, code int, msg string) {
		for _, row := range rows {
			if err := r.Journal.Finish(context.WithoutCancel(r.ctx), row.entry, status, code, msg, state.Mutation{}); err != nil {
				r.setAbort(fmt.Errorf("journal: %w", err))
				return
			}
		}
	}
	media, err := r.Client.UploadMedia(r.ctx, "file", "orgsync-members.csv", file)
	if err != nil {
		// Nothing was imported: the rows go one call each.
		r.Log.Warn("import file upload failed; creating one by one", zap.Int("rows", len(rows)), zap.Error(err))
		finishAll(state.StatusFailed, client.Code(err), "import upload failed, made one by one instead: "+err.Error())
		for _, row := range rows {
			rest = append(rest, row.u)
		}
		return rest
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
			// The job may have been submitted: the next run settles each
			// row from list_id.
			finishAll(state.StatusUncertain, client.Code(err), "import job submit: "+err.Error())
			for _, row := range rows {
				r.pending(row.u.Op, row.u.UserID, "outcome unknown (the import job's answer was lost): the next run settles it")
			}
			return rest
		}
		finishAll(state.StatusFailed, client.Code(err), "import job refused, made one by one instead: "+err.Error())
		for _, row := range rows {
			rest = append(rest, row.u)
		}
		return rest
	}
	r.Log.Info("member import job submitted", zap.String("job", job), zap.Int("rows", len(rows)))
	res, err := r.Client.WaitBatchResult(r.ctx, job, time.Second)
	if err != nil {
		// Submitted, result unknown: settled from list_id next run.
		finishAll(state.StatusUncertain, client.Code(err), fmt.Sprintf("import job %s: result unknown: %v", job, err))
		for _, row := range rows {
			r.pending(row.u.Op, row.u.UserID, "outcome unknown (the import job's result could not be read): the next run settles it")
		}
		return rest
	}
	byID := make(map[string]client.JobRowRes, len(res.Result))
	for _, x := range res.Result {
		byID[model.UserIDKey(x.UserID)] = x
	}
	for _, row := range rows {
		x, ok := byID[model.UserIDKey(row.u.UserID)]
		status, code, msg, mut := state.StatusDone, 0, "", state.Mutation{PutMember: &state.Member{Person: row.sent}}
		switch {
		case !ok:
			status, msg, mut = state.StatusUncertain, fmt.Sprintf("import job %s gave no result for this row", job), state.Mutation{}
		case x.ErrCode != 0:
			status, code, msg, mut = state.StatusFailed, x.ErrCode, fmt.Sprintf("import job %s: errcode %d (%s)", job, x.ErrCode, x.ErrMsg), state.Mutation{}
		}
		if err := r.Journal.Finish(context.WithoutCancel(r.ctx), row.entry, status, code, msg, mut); err != nil {
			r.setAbort(fmt.Errorf("journal: %w", err))
			return rest
		}
		switch {
		case status == state.StatusDone:
			r.succeeded(row.u.Op, mut)
			r.tick()
		case status == state.StatusUncertain:
			r.pending(row.u.Op, row.u.UserID, msg+": the next run settles it")
		case code == client.CodeSystemBusy || code == client.CodeDataConflict || code == client.CodeConcurrency:
			rest = append(rest, row.u) // a retry may cure it: one call
		default:
			r.tick()
			r.fail(row.u.Op, row.u.UserID, &client.APIError{API: "batch/syncuser (job " + job + ")", Code: code, Msg: x.ErrMsg})
		}
	}
	return rest
}

// importFile writes the rows as the member template, UTF-8 with a BOM,
// with the columns some row fills.
func importFile(rows []*batchRow) []byte {
	used := make([]bool, len(importColumns))
	for i, c := range importColumns {
		used[i] = c.always
		for _, row := range rows {
			used[i] = used[i] || row.cells[i] != ""
		}
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	var header []string
	for i, c := range importColumns {
		if used[i] {
			header = append(header, c.header)
		}
	}
	_ = w.Write(header)
	for _, row := range rows {
		var rec []string
		for i := range importColumns {
			if used[i] {
				rec = append(rec, row.cells[i])
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}
