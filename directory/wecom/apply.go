package wecom

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// Applier applies a plan to WeCom.
type Applier struct {
	Client  *client.Client
	Journal directory.Journal
	Log     *zap.Logger
	RunID   int64
	// Shadow is the store's shadow as loaded for the plan; apply keeps it
	// current in memory so that successive changes to one member compose.
	Shadow      *state.Shadow
	RootID      int  // managed root department id
	Invite      bool // WeCom's to_invite on create
	Concurrency int  // member calls in flight (the client also caps and paces)
	// BatchThreshold: a run with more member creates and updates than
	// this makes them through import jobs (batch.go) instead of one call
	// each; 0 = never.
	BatchThreshold int
	// ImportLeaderColumn puts direct leaders in the import file's 直属上级
	// column instead of one link call each after the job. WeCom's
	// documented template has no such column (UNCONFIRMED): turn it on
	// only where the server is known to read it.
	ImportLeaderColumn bool
	// JobTimeout bounds the wait for one import job (0 = 5 minutes plus
	// 20 ms a row); a job not finished by then leaves its rows for the
	// next run to settle.
	JobTimeout time.Duration
	Now        func() time.Time
	// Progress, when set, is called after each change with the number done
	// (succeeded or failed) and the total.
	Progress func(done, total int)
	// Stop, when closed, ends the apply at the next change boundary: calls
	// in flight finish and are journaled; the rest is reported pending.
	Stop <-chan struct{}

	// Pacing is set by Apply: per API, the calls made and the rate
	// achieved against the limit paced for.
	Pacing []client.APIPace
}

// ItemResult and Result are the directory's.
type (
	ItemResult = directory.ItemResult
	Result     = directory.Result
)

// ErrAborted is directory.ErrAborted.
var ErrAborted = directory.ErrAborted

type applyRun struct {
	*Applier
	ctx     context.Context
	jobs    bool // member creates and updates go through import jobs
	mu      sync.Mutex
	res     Result
	deptIDs map[string]int // department key → WeCom id
	stopped map[plan.Op]string
	unmade  map[string]string // department keys whose create is pending, and why
	abort   error
	done    int
	total   int
}

// Apply makes the changes in DESIGN order: departments top-down, members
// create / update / move / enable / disable, deletes (batchdelete ≤200),
// then empty departments bottom-up. Per-item failures are collected; a seat
// quota (45024) or a rate-limit ban stops that kind of call and leaves the
// rest pending for the next run; a configuration error aborts everything.
func (a *Applier) Apply(ctx context.Context, ch *plan.Changes) (Result, error) {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Log == nil {
		a.Log = zap.NewNop()
	}
	if a.Concurrency <= 0 {
		a.Concurrency = 8
	}
	if a.Shadow == nil {
		a.Shadow = &state.Shadow{Members: map[string]*state.Member{}, Departments: map[string]*state.Dept{}}
	}
	// The plan saw the shadow with renamed departments re-keyed: so must
	// apply (forget persists it).
	a.Shadow = a.Shadow.Rekey(ch.RekeyDepts)
	r := &applyRun{Applier: a, ctx: ctx, res: Result{Done: map[plan.Op]int{}}, deptIDs: map[string]int{}, stopped: map[plan.Op]string{}, total: ch.Total()}
	for k, d := range a.Shadow.Departments {
		r.deptIDs[k] = d.Department.ID
	}
	for _, d := range ch.DeptUpdates {
		if d.ID > 0 {
			r.deptIDs[d.Key] = d.ID
		}
	}
	r.jobs = r.useJobs(ch)
	r.Client.MarkPacing()
	start := a.Now()
	defer func() { a.logPacing(a.Now().Sub(start)) }()
	r.forget(ch)
	steps := []func(*plan.Changes){
		r.deptCreates, r.deptUpdates, r.userCreates, r.memberUpdates,
		r.leaderLinks,
		func(c *plan.Changes) { r.users(c.UserEnables) },
		func(c *plan.Changes) { r.users(c.UserDisables) },
		r.userDeletes, r.deptDeletes,
	}
	for _, step := range steps {
		if r.abort != nil {
			break
		}
		step(ch)
	}
	if r.abort != nil {
		return r.res, fmt.Errorf("%w: %w", ErrAborted, r.abort)
	}
	return r.res, nil
}

// logPacing logs, per API called, the rate the apply achieved against the
// limit it paced for (WeCom's published one, or the lower one a 45009
// showed), and keeps it in Pacing.
func (a *Applier) logPacing(elapsed time.Duration) {
	a.Pacing = a.Client.Pacing()
	for _, p := range a.Pacing {
		if p.Calls < 2 {
			continue
		}
		a.Log.Info("apply pacing", zap.String("api", p.API), zap.Int("calls", p.Calls),
			zap.Float64("per_minute", p.PerMinute), zap.Int("limit_per_minute", p.Limit),
			zap.Bool("limit_learned", p.Learned), zap.Float64("ratio", p.Ratio), zap.Duration("apply_elapsed", elapsed))
	}
}

// forget re-keys renamed departments and drops shadow rows of objects
// that are gone from WeCom, in one transaction, before any call.
func (r *applyRun) forget(ch *plan.Changes) {
	if len(ch.ForgetMembers)+len(ch.ForgetDepts)+len(ch.RekeyDepts) == 0 {
		return
	}
	muts := []state.Mutation{{RekeyDepts: ch.RekeyDepts}}
	for _, u := range ch.ForgetMembers {
		muts = append(muts, state.Mutation{DeleteMember: u})
	}
	for _, k := range ch.ForgetDepts {
		muts = append(muts, state.Mutation{DeleteDept: k})
	}
	if err := r.Journal.ApplyAll(r.ctx, muts); err != nil {
		r.abort = err
		return
	}
	for _, u := range ch.ForgetMembers {
		delete(r.Shadow.Members, model.UserIDKey(u))
	}
	for _, k := range ch.ForgetDepts {
		delete(r.Shadow.Departments, k)
	}
}

func (r *applyRun) tick() {
	r.mu.Lock()
	r.done++
	d, t := r.done, r.total
	r.mu.Unlock()
	if r.Progress != nil {
		r.Progress(d, t)
	}
}

func (r *applyRun) fail(op plan.Op, object string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Failed = append(r.res.Failed, ItemResult{Op: op, Object: object, Code: client.Code(err), Error: err.Error()})
}

func (r *applyRun) pending(op plan.Op, object, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Pending = append(r.res.Pending, ItemResult{Op: op, Object: object, Error: why})
	if op == plan.OpDeptCreate {
		if r.unmade == nil {
			r.unmade = map[string]string{}
		}
		r.unmade[object] = why
	}
}

// missingDeptError is a change that needs a department this run has not
// made (yet): its create failed, or is pending.
type missingDeptError struct {
	key, what string
}

func (e *missingDeptError) Error() string {
	return fmt.Sprintf("%s %q does not exist in WeCom (its create failed)", e.what, e.key)
}

// stop marks a kind of call as not to be made again in this run.
func (r *applyRun) stop(op plan.Op, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.stopped[op]; !ok {
		r.stopped[op] = why
		r.Log.Warn("stopping a kind of change for this run", zap.String("op", string(op)), zap.String("reason", why))
	}
}

func (r *applyRun) stoppedWhy(op plan.Op) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	why, ok := r.stopped[op]
	if ok {
		return why, true
	}
	if r.ctx.Err() != nil {
		return "cancelled: " + r.ctx.Err().Error(), true
	}
	select {
	case <-r.Stop:
		return "stopped: shutdown requested; the next run makes this change", true
	default:
	}
	if r.abort != nil {
		return "run aborted", true
	}
	return "", false
}

// do journals and makes one call. call returns the shadow mutation to
// record on success. It classifies failures: configuration errors abort the
// run, a quota or ban stops that op, anything else is a per-item failure.
func (r *applyRun) do(op plan.Op, object string, before, after any, call func() (state.Mutation, error)) bool {
	if why, ok := r.stoppedWhy(op); ok {
		r.pending(op, object, why)
		return false
	}
	id, err := r.Journal.Begin(r.ctx, r.RunID, string(op), object, before, after)
	if err != nil {
		r.setAbort(fmt.Errorf("journal: %w", err))
		return false
	}
	mut, callErr := call()
	status, code, msg := state.StatusDone, 0, ""
	switch {
	case client.IsUncertain(callErr):
		// It may have happened: the next run settles it from WeCom's lists
		// (a create that exists becomes owned), never forgets it.
		status, code, msg = state.StatusUncertain, client.Code(callErr), callErr.Error()
	case callErr != nil:
		status, code, msg = state.StatusFailed, client.Code(callErr), callErr.Error()
	}
	// Finish even when ctx is cancelled: the call happened.
	if err := r.Journal.Finish(context.WithoutCancel(r.ctx), id, status, code, msg, mut); err != nil {
		r.setAbort(fmt.Errorf("journal: %w", err))
		return false
	}
	defer r.tick()
	if callErr == nil {
		r.succeeded(op, mut)
		return true
	}
	var ban *client.BanError
	switch {
	case status == state.StatusUncertain && !client.IsConfig(callErr):
		r.Log.Warn("change outcome unknown; the next run settles it", zap.String("op", string(op)), zap.String("object", object), zap.Error(callErr))
		r.pending(op, object, "outcome unknown (the answer was lost): the next run settles it from WeCom's lists: "+callErr.Error())
		if errors.As(callErr, &ban) {
			r.stop(op, callErr.Error())
		}
		return false
	case client.IsConfig(callErr):
		r.setAbort(callErr)
	case errors.As(callErr, &ban):
		r.stop(op, callErr.Error())
		r.pending(op, object, callErr.Error())
		return false
	case client.IsCode(callErr, 45024):
		r.stop(op, "the corp's seat quota is reached (45024): free or buy seats in the admin console")
	case errors.Is(callErr, context.Canceled), errors.Is(callErr, context.DeadlineExceeded):
		r.pending(op, object, callErr.Error())
		return false
	}
	r.Log.Warn("change failed", zap.String("op", string(op)), zap.String("object", object), zap.Int("errcode", code), zap.Error(callErr))
	r.fail(op, object, callErr)
	return false
}

// succeeded counts a change done and keeps its mutation in the in-memory
// shadow (the journal already has it).
func (r *applyRun) succeeded(op plan.Op, mut state.Mutation) {
	r.mu.Lock()
	r.res.Done[op]++
	r.mu.Unlock()
	r.remember(mut)
}

// failNoCall records a change that fails before any call (a department it
// needs does not exist).
func (r *applyRun) failNoCall(op plan.Op, object string, err error) {
	r.tick()
	// A change that waits for a department whose create is pending (the
	// run stopped, the answer was lost, the API is banned) was not tried:
	// it is pending too, not failed.
	var md *missingDeptError
	if errors.As(err, &md) {
		r.mu.Lock()
		why, ok := r.unmade[md.key]
		r.mu.Unlock()
		if ok {
			r.pending(op, object, fmt.Sprintf("waits for department %s: %s", md.key, why))
			return
		}
	}
	r.fail(op, object, err)
}

func (r *applyRun) setAbort(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abort == nil {
		r.abort = err
	}
}

// remember keeps the in-memory shadow equal to what was journaled.
func (r *applyRun) remember(mut state.Mutation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := mut.PutMember; m != nil {
		cp := *m
		r.Shadow.Members[model.UserIDKey(m.Person.UserID)] = &cp
	}
	if mut.DeleteMember != "" {
		delete(r.Shadow.Members, model.UserIDKey(mut.DeleteMember))
	}
	if d := mut.PutDept; d != nil {
		cp := *d
		r.Shadow.Departments[d.Department.Key] = &cp
		r.deptIDs[d.Department.Key] = d.Department.ID
	}
	if mut.DeleteDept != "" {
		delete(r.Shadow.Departments, mut.DeleteDept)
	}
}

func (r *applyRun) member(userid string) *state.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.Shadow.Members[model.UserIDKey(userid)]; m != nil {
		cp := *m
		return &cp
	}
	return nil
}

func (r *applyRun) deptID(key string) (int, bool) {
	if key == "" {
		return r.RootID, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.deptIDs[key]
	return id, ok && id > 0
}

// deptTarget is the department a create or update should produce, with its
// parent's id resolved now (the parent may have been created earlier in this
// run). A parent that does not exist fails the change without a call.
func (r *applyRun) deptTarget(d plan.DeptChange) (model.Department, bool) {
	want := *d.After
	want.ID = d.ID
	parent, ok := r.deptID(want.ParentKey)
	if !ok {
		r.failNoCall(d.Op, d.Key, &missingDeptError{key: want.ParentKey, what: "parent department"})
		return want, false
	}
	want.ParentID = parent
	return want, true
}

// deptLevels groups department creates by tree level: a department whose
// parent is created in this run comes one level after it. Departments of
// one level don't depend on each other, so they are created in parallel.
func deptLevels(list []plan.DeptChange) [][]plan.DeptChange {
	creating := make(map[string]int, len(list))
	for i, d := range list {
		creating[d.Key] = i
	}
	return byDepth(list, func(i int) []int {
		if j, ok := creating[list[i].After.ParentKey]; ok && j != i {
			return []int{j}
		}
		return nil
	})
}

// byDepth groups list by depth: an item comes one level after every item
// of list it depends on (deps(i): their indices). Each depth is computed
// once; a cycle, or a chain deeper than 32, is cut where it is met.
func byDepth[T any](list []T, deps func(i int) []int) [][]T {
	level := make([]int, len(list)) // 0 = not computed yet
	var depth func(i, guard int) int
	depth = func(i, guard int) int {
		if level[i] > 0 {
			return level[i]
		}
		d := 1
		if guard < 32 {
			for _, j := range deps(i) {
				d = max(d, depth(j, guard+1)+1)
			}
		}
		level[i] = d
		return d
	}
	var out [][]T
	for i := range list {
		d := depth(i, 0)
		for len(out) < d {
			out = append(out, nil)
		}
		out[d-1] = append(out[d-1], list[i])
	}
	return out
}

func (r *applyRun) deptCreates(ch *plan.Changes) {
	for _, level := range deptLevels(ch.DeptCreates) {
		r.pool(len(level), func(i int) { r.deptCreate(level[i]) })
	}
}

func (r *applyRun) deptCreate(d plan.DeptChange) {
	want, ok := r.deptTarget(d)
	if !ok {
		return
	}
	parent := want.ParentID
	r.do(d.Op, d.Key, nil, want, func() (state.Mutation, error) {
		body := client.DepartmentCreate{Name: want.Name, ParentID: parent, ID: want.ID}
		if want.Order != 0 {
			body.Order = client.Ptr(want.Order)
		}
		id, err := r.Client.CreateDepartment(r.ctx, body)
		if client.IsCode(err, client.CodeDeptExists) && r.ownCreate(want, parent) {
			// Our own earlier attempt (its answer was lost and the
			// client retried): orgsync chose this id, and it stands
			// under the intended parent. Make sure of name and order.
			r.Log.Info("department already exists on create; it is ours", zap.String("key", want.Key), zap.Int("id", want.ID))
			id, err = want.ID, r.Client.UpdateDepartment(r.ctx, client.DepartmentUpdate{ID: want.ID, Name: client.Ptr(want.Name), Order: body.Order})
		}
		if err != nil {
			return state.Mutation{}, err
		}
		if id != 0 {
			want.ID = id
		}
		return state.Mutation{PutDept: &state.Dept{Department: want}}, nil
	})
}

// ownCreate reports whether the department orgsync meant to create already
// exists with the id orgsync assigned and under the intended parent.
func (r *applyRun) ownCreate(want model.Department, parent int) bool {
	refs, err := r.Client.DepartmentSimpleList(r.ctx, want.ID)
	if err != nil {
		return false
	}
	for _, d := range refs {
		if d.ID == want.ID {
			return d.ParentID == parent
		}
	}
	return false
}

func (r *applyRun) deptUpdates(ch *plan.Changes) {
	for _, d := range ch.DeptUpdates {
		want, ok := r.deptTarget(d)
		if !ok {
			continue
		}
		parent := want.ParentID
		r.do(d.Op, d.Key, d.Before, want, func() (state.Mutation, error) {
			body := client.DepartmentUpdate{ID: want.ID}
			for _, w := range d.What {
				switch w {
				case "name":
					body.Name = client.Ptr(want.Name)
				case "parent":
					body.ParentID = client.Ptr(parent)
				case "order":
					body.Order = client.Ptr(want.Order)
				}
			}
			if body.Name != nil || body.ParentID != nil || body.Order != nil {
				if err := r.Client.UpdateDepartment(r.ctx, body); err != nil {
					return state.Mutation{}, err
				}
			}
			return state.Mutation{PutDept: &state.Dept{Department: want, Adopted: d.Adopt}}, nil
		})
	}
}

// pool runs fn over items with the configured concurrency.
func (r *applyRun) pool(n int, fn func(i int)) {
	sem := make(chan struct{}, r.Concurrency)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}(i)
	}
	wg.Wait()
}

// departments resolves a person's department keys to ids, with the
// parallel is_leader_in_dept array.
func (r *applyRun) departments(p *model.Person) ([]int, []int, int, error) {
	ids := make([]int, 0, len(p.Departments))
	leader := make([]int, 0, len(p.Departments))
	for _, k := range p.Departments {
		id, ok := r.deptID(k)
		if !ok {
			return nil, nil, 0, &missingDeptError{key: k, what: "department"}
		}
		ids = append(ids, id)
		if slices.Contains(p.LeaderOf(), k) {
			leader = append(leader, 1)
		} else {
			leader = append(leader, 0)
		}
	}
	if len(ids) == 0 {
		ids, leader = []int{r.RootID}, []int{0}
	}
	main := 0
	if p.MainDepartment() != "" {
		main, _ = r.deptID(p.MainDepartment())
	}
	return ids, leader, main, nil
}

func extattr(p *model.Person) *client.ExtAttr {
	if len(p.ExtAttrs()) == 0 {
		return nil
	}
	x := &client.ExtAttr{}
	for _, a := range p.ExtAttrs() {
		x.Attrs = append(x.Attrs, client.TextAttr(a.Name, a.Value))
	}
	return x
}

// existingLeaders keeps the leaders that can be named now: WeCom refuses a
// direct_leader that is not (yet) a member. Nil when none can.
func (r *applyRun) existingLeaders(leaders []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range leaders {
		if r.Shadow.Members[model.UserIDKey(l)] != nil {
			out = append(out, l)
		}
	}
	return out
}

// createWaves orders creates so that a direct leader created in this run
// is created in an earlier wave than the members reporting to them; the
// link then goes into the create call instead of a later update. A leader
// cycle (mapping rejects those) ends up in the last wave.
func createWaves(list []plan.UserChange) [][]plan.UserChange {
	creating := make(map[string]int, len(list))
	for i, u := range list {
		creating[model.UserIDKey(u.UserID)] = i
	}
	return byDepth(list, func(i int) []int {
		var out []int
		for _, l := range list[i].After.DirectLeaders {
			if j, ok := creating[model.UserIDKey(l)]; ok && j != i {
				out = append(out, j)
			}
		}
		return out
	})
}

func (r *applyRun) userCreates(ch *plan.Changes) {
	list := ch.UserCreates
	if r.jobs {
		list = r.createJob(list)
	}
	for _, wave := range createWaves(list) {
		r.createWave(wave)
	}
}

func (r *applyRun) createWave(list []plan.UserChange) {
	r.pool(len(list), func(i int) {
		u := list[i]
		p := *u.After
		depts, leader, main, err := r.departments(&p)
		if err != nil {
			r.failNoCall(u.Op, u.UserID, err)
			return
		}
		body := client.UserCreate{
			UserID: p.UserID, Name: p.Name, Alias: p.Alias(), Mobile: p.Mobile, Email: p.Email, BizMail: p.BizMail(),
			Telephone: p.Telephone(), Position: p.Position, Gender: string(p.Gender), Department: depts,
			IsLeaderInDept: leader, MainDepartment: main, ExtAttr: extattr(&p), Enable: client.Ptr(1), ToInvite: client.Ptr(r.Invite),
		}
		sent := p
		sent.Enabled = true
		// Leaders created in this same run are linked afterwards (leaderLinks).
		sent.DirectLeaders = r.existingLeaders(p.DirectLeaders)
		body.DirectLeader = sent.DirectLeaders
		r.do(u.Op, u.UserID, nil, sent, func() (state.Mutation, error) {
			err := r.Client.CreateUser(r.ctx, body)
			switch {
			case client.IsCode(err, client.CodeUserExists) && client.IsUncertain(err):
				// An earlier attempt of this very call may have been
				// applied (its answer was lost and the client retried):
				// the member is ours. Make sure it is what we meant.
				r.Log.Info("member exists after a lost answer to our create; completing it", zap.String("userid", p.UserID))
				// If completing it fails, the member still exists and is
				// ours: the change stays uncertain, for the next run to settle.
				err = client.MarkUncertain(r.Client.UpdateUser(r.ctx, updateBody(&sent, fullFields, depts, leader, main, true)), true)
			case client.IsCode(err, client.CodeUserExists):
				// Someone else's member: outside the managed scope, or made
				// since list_id was read. Taking it over is an adoption
				// question for the plan, never a blind update.
				err = fmt.Errorf("%w: userid %s already exists in WeCom and orgsync does not own it: not taken over (it is outside the managed scope or appeared since the lists were read; an adopt rule makes it a planned adoption)", err, p.UserID)
			}
			if err != nil {
				return state.Mutation{}, err
			}
			return state.Mutation{PutMember: &state.Member{Person: sent}}, nil
		})
	})
}

// fullFields is every field a create sets, for the 60102 fallback.
var fullFields = []string{"name", "alias", "position", "mobile", "email", "biz_mail", "telephone", "gender", "department", "main_department", "is_leader_in_dept", "direct_leader", "extattr"}

func updateBody(p *model.Person, fields []string, depts, leader []int, main int, enable bool) client.UserUpdate {
	b := client.UserUpdate{UserID: p.UserID}
	for _, f := range fields {
		switch f {
		case "name":
			b.Name = client.Ptr(p.Name)
		case "alias":
			b.Alias = client.Ptr(p.Alias())
		case "position":
			b.Position = client.Ptr(p.Position)
		case "mobile":
			b.Mobile = client.Ptr(p.Mobile)
		case "email":
			b.Email = client.Ptr(p.Email)
		case "biz_mail":
			if p.BizMail() != "" {
				b.BizMail = client.Ptr(p.BizMail())
			}
		case "telephone":
			b.Telephone = client.Ptr(p.Telephone())
		case "gender":
			// "" goes out as "0" (unset), so a gender removed in the
			// source is removed in WeCom too.
			b.Gender = client.Ptr(string(p.Gender))
		case "department", "is_leader_in_dept":
			b.Department = client.Ptr(depts)
			b.IsLeaderInDept = client.Ptr(leader)
		case "main_department":
			if main != 0 {
				b.MainDepartment = client.Ptr(main)
			}
		case "direct_leader":
			b.DirectLeader = client.Ptr(append([]string{}, p.DirectLeaders...))
		case "extattr":
			if x := extattr(p); x != nil {
				b.ExtAttr = x
			} else {
				b.ExtAttr = &client.ExtAttr{Attrs: []client.ExtAttrItem{}}
			}
		}
	}
	if enable {
		b.Enable = client.Ptr(1)
	}
	return b
}

// memberUpdates applies updates, then moves: through import jobs when the
// run uses them, one call each for the rest.
func (r *applyRun) memberUpdates(ch *plan.Changes) {
	updates, moves := ch.UserUpdates, ch.UserMoves
	if r.jobs {
		rest := r.updateJobs(slices.Concat(updates, moves))
		updates, moves = nil, nil
		for _, u := range rest {
			if u.Op == plan.OpUserMove {
				moves = append(moves, u)
			} else {
				updates = append(updates, u)
			}
		}
	}
	r.users(updates)
	r.users(moves)
}

// users applies updates, moves, enables or disables.
func (r *applyRun) users(list []plan.UserChange) {
	r.pool(len(list), func(i int) {
		u := list[i]
		cur := r.member(u.UserID)
		var base model.Person
		if cur != nil {
			base = cur.Person
		} else if u.After != nil {
			base = *u.After
		} else if u.Before != nil {
			base = *u.Before
		}
		switch u.Op {
		case plan.OpUserEnable, plan.OpUserDisable:
			enable := u.Op == plan.OpUserEnable
			next := state.Member{Person: base}
			if cur != nil {
				next.Adopted = cur.Adopted
			}
			next.Person.Enabled = enable
			if !enable {
				next.DisabledAt = r.Now()
			}
			r.do(u.Op, u.UserID, u.Before, next.Person, func() (state.Mutation, error) {
				v := 0
				if enable {
					v = 1
				}
				if err := r.Client.UpdateUser(r.ctx, client.UserUpdate{UserID: u.UserID, Enable: client.Ptr(v)}); err != nil {
					return state.Mutation{}, err
				}
				return state.Mutation{PutMember: &next}, nil
			})
		default: // update, move, adopt
			p := *u.After
			depts, leader, main, err := r.departments(&p)
			if err != nil {
				r.failNoCall(u.Op, u.UserID, err)
				return
			}
			sent := p
			sent.Enabled = base.Enabled
			if u.Adopt {
				sent.Enabled = true
			}
			fields := u.Fields
			if slices.Contains(fields, "direct_leader") {
				sent.DirectLeaders = r.existingLeaders(p.DirectLeaders)
			} else if cur != nil {
				sent.DirectLeaders = cur.Person.DirectLeaders
			}
			r.do(u.Op, u.UserID, u.Before, sent, func() (state.Mutation, error) {
				err := r.Client.UpdateUser(r.ctx, updateBody(&sent, fields, depts, leader, main, u.Adopt && p.Enabled))
				if err != nil {
					return state.Mutation{}, err
				}
				return state.Mutation{PutMember: &state.Member{Person: sent, Adopted: u.Adopt || (cur != nil && cur.Adopted), DisabledAt: disabledAt(cur)}}, nil
			})
		}
	})
}

func disabledAt(m *state.Member) time.Time {
	if m == nil {
		return time.Time{}
	}
	return m.DisabledAt
}

// leaderLinks sets direct_leader on members whose leader was created later
// in this run than they were.
func (r *applyRun) leaderLinks(ch *plan.Changes) {
	var todo []plan.UserChange
	for _, l := range [][]plan.UserChange{ch.UserCreates, ch.UserUpdates, ch.UserMoves} {
		for _, u := range l {
			if u.After == nil || len(u.After.DirectLeaders) == 0 {
				continue
			}
			cur := r.member(u.UserID)
			if cur == nil || slices.Equal(cur.Person.DirectLeaders, u.After.DirectLeaders) {
				continue
			}
			// Only when it changes something: with none of the leaders
			// existing (their creates failed), the link waits for the next
			// run instead of clearing what the member has.
			if slices.Equal(cur.Person.DirectLeaders, r.existingLeaders(u.After.DirectLeaders)) {
				continue
			}
			todo = append(todo, u)
		}
	}
	r.total += len(todo)
	r.pool(len(todo), func(i int) {
		u := todo[i]
		cur := r.member(u.UserID)
		leaders := r.existingLeaders(u.After.DirectLeaders)
		next := *cur
		next.Person.DirectLeaders = leaders
		r.do(plan.OpUserUpdate, u.UserID, cur.Person, next.Person, func() (state.Mutation, error) {
			if err := r.Client.UpdateUser(r.ctx, client.UserUpdate{UserID: u.UserID, DirectLeader: client.Ptr(leaders)}); err != nil {
				return state.Mutation{}, err
			}
			return state.Mutation{PutMember: &next}, nil
		})
	})
}

// userDeletes deletes through user/batchdelete in chunks of ≤200. WeCom
// fails a whole batch if one id is invalid, so a failed batch falls back to
// single deletes, where 60111 (already gone) counts as done.
func (r *applyRun) userDeletes(ch *plan.Changes) {
	list := slices.Clone(ch.UserDeletes)
	sort.Slice(list, func(i, j int) bool { return list[i].UserID < list[j].UserID })
	for start := 0; start < len(list); start += client.MaxBatchDelete {
		chunk := list[start:min(start+client.MaxBatchDelete, len(list))]
		if why, ok := r.stoppedWhy(plan.OpUserDelete); ok {
			for _, u := range chunk {
				r.pending(u.Op, u.UserID, why)
			}
			continue
		}
		ids := make([]string, len(chunk))
		for i, u := range chunk {
			ids[i] = u.UserID
		}
		entries := make([]int64, len(chunk))
		for i, u := range chunk {
			id, err := r.Journal.Begin(r.ctx, r.RunID, string(u.Op), u.UserID, u.Before, nil)
			if err != nil {
				r.setAbort(fmt.Errorf("journal: %w", err))
				return
			}
			entries[i] = id
		}
		err := r.Client.BatchDeleteUsers(r.ctx, ids)
		if err == nil {
			for i, u := range chunk {
				if ferr := r.Journal.Finish(context.WithoutCancel(r.ctx), entries[i], state.StatusDone, 0, "", state.Mutation{DeleteMember: u.UserID}); ferr != nil {
					r.setAbort(ferr)
					return
				}
				r.succeeded(u.Op, state.Mutation{DeleteMember: u.UserID})
				r.tick()
			}
			continue
		}
		// Settle the batch entries, then retry one by one. A batch whose
		// answer was lost may have deleted them all: uncertain, for the
		// next run to settle from list_id, never "failed".
		status := state.StatusFailed
		if client.IsUncertain(err) {
			status = state.StatusUncertain
		}
		for i := range chunk {
			if ferr := r.Journal.Finish(context.WithoutCancel(r.ctx), entries[i], status, client.Code(err), "batchdelete: "+err.Error(), state.Mutation{}); ferr != nil {
				r.setAbort(ferr)
				return
			}
		}
		if client.IsConfig(err) {
			r.setAbort(err)
			return
		}
		r.Log.Info("batchdelete failed; deleting one by one", zap.Int("count", len(chunk)), zap.Error(err))
		r.pool(len(chunk), func(i int) {
			u := chunk[i]
			r.do(u.Op, u.UserID, u.Before, nil, func() (state.Mutation, error) {
				err := r.Client.DeleteUser(r.ctx, u.UserID)
				if client.IsCode(err, client.CodeUserNotFound) {
					err = nil // already gone: the goal is reached
				}
				if err != nil {
					return state.Mutation{}, err
				}
				return state.Mutation{DeleteMember: u.UserID}, nil
			})
		})
	}
}

func (r *applyRun) deptDeletes(ch *plan.Changes) {
	for _, d := range ch.DeptDeletes {
		r.do(d.Op, d.Key, d.Before, nil, func() (state.Mutation, error) {
			err := r.Client.DeleteDepartment(r.ctx, d.ID)
			if client.IsCode(err, client.CodeDeptNotFound, client.CodeInvalidDeptID) {
				err = nil // already gone
			}
			if err != nil {
				return state.Mutation{}, err
			}
			return state.Mutation{DeleteDept: d.Key}, nil
		})
	}
}
