package engine

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
	"github.com/orgsync/orgsync/target/wecom"
)

// adoptMatches finds pre-existing WeCom members that an `adopt: [mobile]`
// or `adopt: [email]` rule assigns to a desired person: the person is not
// managed yet, their userid is not in WeCom, and WeCom has a member in
// scope, not owned by orgsync, with the same mobile or email.
//
// Lookups are made only while unowned members remain unmatched, and failed
// lookups stop at a tenth of the headcount (at least 50): WeCom blocks
// user/getuserid for a day when failures pass 20%. In a nearly empty corp
// the floor can still trip that block; it costs only adoption lookups for a
// day, which the log then says.
func (e *Engine) adoptMatches(ctx context.Context, desired model.Org, shadow *state.Shadow, cur plan.Current) (map[string]string, error) {
	var byMobile, byEmail bool
	for _, a := range e.cfg.Policy.Adopt {
		byMobile = byMobile || a == "mobile"
		byEmail = byEmail || a == "email"
	}
	if !byMobile && !byEmail {
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
		if wecom.IsCode(err, 46004, 60146, 60147) {
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
		if byMobile && p.Mobile != "" {
			found, err = lookup(func() (string, error) { return e.client.UserIDByMobile(ctx, p.Mobile) })
		}
		if err == nil && found == "" && byEmail && p.Email != "" {
			found, err = lookup(func() (string, error) { return e.client.UserIDByEmail(ctx, p.Email, wecom.EmailPersonal) })
		}
		if err != nil {
			return nil, fmt.Errorf("adopt lookup for %s: %w", p.Origin, err)
		}
		if fk := model.UserIDKey(found); found != "" && unowned[fk] {
			matches[p.Key] = cur.Members[fk].UserID
			delete(unowned, fk)
			e.log.Info("adopting a pre-existing member by mobile/email", zap.String("key", p.Key), zap.String("userid", found))
		}
	}
	if budget <= 0 {
		e.log.Warn("stopped adoption lookups: too many numbers unknown to WeCom (it blocks the lookup API past 20% failures)")
	}
	return matches, nil
}
