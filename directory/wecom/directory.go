// Package wecom is the WeCom (企业微信) directory: it reads WeCom's
// current state through the two reads the 2022 restrictions leave open
// (department/simplelist, user/list_id), applies plans through the
// contacts API with WeCom's idempotent fallbacks, and answers adoption
// lookups. The HTTP client is in wecom/client, the emulator tests and the
// demo run against in wecom/emulator.
package wecom

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// ClientConfig is the HTTP client's configuration (base URL, corp id,
// secret, pacing), so that callers need not import the client.
type ClientConfig = client.Config

// Config is the WeCom directory's configuration.
type Config struct {
	Client ClientConfig
	// RootDepartmentID is the managed scope (1 = the whole corp).
	RootDepartmentID int
	// FullReads: the secret may read department names (department/list);
	// WeCom refuses it to a Contacts-Sync secret used from a new IP.
	FullReads bool
	Invite    bool // WeCom's to_invite on create
	// BatchThreshold: a run with more member creates and updates than
	// this makes them through WeCom's import job (DefaultBatchThreshold
	// when 0; negative = never).
	BatchThreshold int
	// ImportLeaderColumn: direct leaders go in the import file's 直属上级
	// column, with no link call per person after the job. The documented
	// template has no such column (wecom-api.md §5.3, UNCONFIRMED): leave
	// it off unless the server is known to read it.
	ImportLeaderColumn bool
	// JobTimeout bounds the wait for one import job (0 = 5 minutes plus
	// 20 ms a row).
	JobTimeout time.Duration
}

// Directory is the WeCom directory.
type Directory struct {
	cfg    Config
	client *client.Client
	log    *zap.Logger

	mu     sync.Mutex
	pacing []client.APIPace
}

var _ directory.Directory = (*Directory)(nil)

// New makes the WeCom directory (no call yet).
func New(cfg Config, log *zap.Logger) (*Directory, error) {
	if cfg.RootDepartmentID == 0 {
		cfg.RootDepartmentID = 1
	}
	c, err := client.New(cfg.Client, log)
	if err != nil {
		return nil, fmt.Errorf("wecom client: %w", err)
	}
	return &Directory{cfg: cfg, client: c, log: log}, nil
}

// Client is the HTTP client (metrics read its stats and observe its calls).
func (d *Directory) Client() *client.Client { return d.client }

// Calls counts every HTTP attempt the client made (answered or not).
func (d *Directory) Calls() int {
	s := d.client.Stats()
	n := 0
	for _, m := range []map[string]map[int]int{s.Calls, s.HTTPStatus} {
		for _, codes := range m {
			for _, c := range codes {
				n += c
			}
		}
	}
	for _, c := range s.TransportErrors {
		n += c
	}
	return n
}

// Check gets a token and reads the managed department tree.
func (d *Directory) Check(ctx context.Context) (string, error) {
	root := d.cfg.RootDepartmentID
	refs, err := d.client.DepartmentSimpleList(ctx, root)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("ok, token obtained, %d departments under the managed root %d", len(refs), root), nil
}

// Load reads WeCom's state through the two reads the 2022 restrictions
// leave open (department/simplelist, user/list_id), plus department names
// when full reads are configured. The whole corp is read (as far as the
// secret sees it): the managed scope is cut out here, and what lies
// outside it still matters: department ids are unique corp-wide, and a
// userid outside the scope can't be created again.
func (d *Directory) Load(ctx context.Context) (plan.Current, error) {
	root := d.cfg.RootDepartmentID
	refs, err := d.client.DepartmentSimpleList(ctx, 0)
	if err != nil {
		return plan.Current{}, fmt.Errorf("read WeCom departments: %w", err)
	}
	cur := plan.Current{Departments: map[int]plan.CurrentDept{}, Members: map[string]*plan.CurrentMember{}, Outside: map[string]*plan.CurrentMember{}}
	parent := make(map[int]int, len(refs))
	for _, r := range refs {
		parent[r.ID] = r.ParentID
		cur.MaxDeptID = max(cur.MaxDeptID, r.ID)
	}
	inScope := func(id int) bool {
		for n := 0; n < 64; n++ { // a tree of depth ≤ 15; the bound guards a bad answer
			if id == root {
				return true
			}
			p, ok := parent[id]
			if !ok || p == id || p == 0 {
				return false
			}
			id = p
		}
		return false
	}
	for _, r := range refs {
		if inScope(r.ID) {
			cur.Departments[r.ID] = plan.CurrentDept{ID: r.ID, ParentID: r.ParentID, Order: r.Order}
		}
	}
	if _, ok := cur.Departments[root]; !ok {
		return plan.Current{}, fmt.Errorf("the managed root department %d does not exist in WeCom (target.config.root_department_id)", root)
	}
	if d.cfg.FullReads {
		full, err := d.client.ListDepartments(ctx, root)
		if err != nil {
			return plan.Current{}, fmt.Errorf("read WeCom department names (full_reads: true): %w", err)
		}
		for _, dep := range full {
			if c, ok := cur.Departments[dep.ID]; ok {
				c.Name = dep.Name
				cur.Departments[dep.ID] = c
			}
		}
	}
	// Members are allocated in blocks, and a member's first department
	// from a shared slab (a second one makes append copy it out): at 1M
	// members, two allocations each fewer for the run to make and collect.
	var block []plan.CurrentMember
	var ids []int
	err = d.client.ListUserIDPages(ctx, 10000, func(rows []client.DeptUser) error {
		for _, r := range rows {
			into := cur.Members
			if _, ok := cur.Departments[r.Department]; !ok {
				into = cur.Outside
			}
			k := model.UserIDKey(r.UserID)
			m := into[k]
			if m == nil {
				if len(block) == 0 {
					block, ids = make([]plan.CurrentMember, 4096), make([]int, 4096)
				}
				m, block = &block[0], block[1:]
				m.UserID, m.Departments = r.UserID, ids[:0:1]
				ids = ids[1:]
				into[k] = m
			}
			m.Departments = append(m.Departments, r.Department)
		}
		return nil
	})
	if err != nil {
		return plan.Current{}, fmt.Errorf("read WeCom members: %w", err)
	}
	// A member in the scope and outside it at once counts as in the scope
	// (with its in-scope departments).
	if len(cur.Outside) > 0 {
		for k := range cur.Members {
			delete(cur.Outside, k)
		}
	}
	return cur, nil
}

// Apply makes the changes through the contacts API (see Applier).
func (d *Directory) Apply(ctx context.Context, ch *plan.Changes, j directory.Journal, o directory.ApplyOptions) (directory.Result, error) {
	a := &Applier{
		Client: d.client, Journal: j, Log: d.log.Named("apply"), RunID: o.RunID, Shadow: o.Shadow,
		RootID: d.cfg.RootDepartmentID, Invite: d.cfg.Invite, Concurrency: d.cfg.Client.Concurrency,
		BatchThreshold: batchThreshold(d.cfg.BatchThreshold), ImportLeaderColumn: d.cfg.ImportLeaderColumn, JobTimeout: d.cfg.JobTimeout,
		Now: o.Now, Progress: o.Progress, Stop: o.Stop,
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	res, err := a.Apply(ctx, ch)
	d.mu.Lock()
	d.pacing = a.Pacing
	d.mu.Unlock()
	for _, p := range a.Pacing {
		res.Pacing = append(res.Pacing, directory.Pace{API: p.API, Calls: p.Calls, PerMinute: p.PerMinute, Limit: p.Limit, Learned: p.Learned, Ratio: p.Ratio})
	}
	return res, err
}

// LastPacing is, per API, how the last Apply was paced: calls, the rate
// achieved, the limit paced for (learned from a 45009 when the configured
// rate was too high) and their ratio.
func (d *Directory) LastPacing() []client.APIPace {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.pacing)
}

// Adopt finds pre-existing WeCom members that an adopt rule (mobile,
// email) assigns to a desired person: the person is not managed yet, their
// userid is not in WeCom, and WeCom has a member in scope, not owned by
// orgsync, with the same mobile or email.
//
// Lookups are made only while unowned members remain unmatched, and failed
// lookups stop at a tenth of the headcount (at least 50): WeCom blocks
// user/getuserid for a day when failures pass 20%. In a nearly empty corp
// the floor can still trip that block; it costs only adoption lookups for a
// day, which the log then says.
func (d *Directory) Adopt(ctx context.Context, desired model.Org, shadow *state.Shadow, cur plan.Current, by directory.AdoptBy) (map[string]string, error) {
	if !by.Mobile && !by.Email {
		return nil, nil
	}
	unowned := map[string]bool{}
	for k := range cur.Members {
		if shadow.Members[k] == nil {
			unowned[k] = true
		}
	}
	budget := max(50, len(cur.Members)/10)
	matches := map[string]string{}
	lookup := func(f func() (string, error)) (string, error) {
		id, err := f()
		if client.IsCode(err, 46004, 60146, 60147) { // no such member
			budget--
			return "", nil
		}
		return id, err
	}
	for i := range desired.People {
		if len(unowned) == 0 || budget <= 0 {
			break
		}
		p := &desired.People[i]
		k := model.UserIDKey(p.UserID)
		if shadow.Members[k] != nil || cur.Members[k] != nil {
			continue
		}
		var found string
		var err error
		if by.Mobile && p.Mobile != "" {
			found, err = lookup(func() (string, error) { return d.client.UserIDByMobile(ctx, p.Mobile) })
		}
		if err == nil && found == "" && by.Email && p.Email != "" {
			found, err = lookup(func() (string, error) { return d.client.UserIDByEmail(ctx, p.Email, client.EmailPersonal) })
		}
		if err != nil {
			return nil, fmt.Errorf("adopt lookup for %s: %w", p.Origin, err)
		}
		if fk := model.UserIDKey(found); found != "" && unowned[fk] {
			matches[p.Key] = cur.Members[fk].UserID
			delete(unowned, fk)
			d.log.Info("adopting a pre-existing member by mobile/email", zap.String("key", p.Key), zap.String("userid", found))
		}
	}
	if budget <= 0 {
		d.log.Warn("stopped adoption lookups: too many numbers unknown to WeCom (it blocks the lookup API past 20% failures)")
	}
	return matches, nil
}

func batchThreshold(n int) int {
	switch {
	case n == 0:
		return DefaultBatchThreshold
	case n < 0:
		return 0
	}
	return n
}
