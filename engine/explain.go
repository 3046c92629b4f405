package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
)

// Explain tells, line by line, what the prepared plan does with one person
// (by source key or userid) and why.
func Explain(p *Prepared, who, cfgPath string) []string {
	var out []string
	say := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
	uk := model.UserIDKey(who)
	var person *model.Person
	for i := range p.Desired.People {
		q := &p.Desired.People[i]
		if q.Key == who || model.UserIDKey(q.UserID) == uk {
			person = q
			break
		}
	}
	userid := who
	if person != nil {
		userid = person.UserID
		say("source record: %s (key %s)", person.Origin, person.Key)
		b, _ := json.MarshalIndent(person, "  ", "  ")
		say("mapped to:\n  %s", b)
		for _, l := range p.Join.Explain(person.Key) {
			say("%s", l)
		}
		if !person.Enabled {
			say("the source marks this person as not enabled (the mapping's enabled rule is false): a leaver")
		}
	}
	for _, r := range p.Rejected {
		if r.Key == who || (r.UserID != "" && model.UserIDKey(r.UserID) == uk) {
			say("REJECTED record: %s", r.Error())
			say("  its WeCom member (if any) is protected: left exactly as it is until the record is fixed")
			if r.UserID != "" {
				userid = r.UserID
			}
		}
	}
	for _, x := range p.Excluded {
		if x.Key == who || (x.UserID != "" && model.UserIDKey(x.UserID) == uk) {
			say("source record: %s (key %s): %s", x.Origin, x.Key, x.Reason())
			say("  out of scope on purpose: not mapped, not rejected; a member orgsync manages for it is a leaver")
			if x.UserID != "" && person == nil {
				userid = x.UserID
			}
		}
	}
	for _, w := range p.Warnings {
		if w.Key == who || (w.UserID != "" && model.UserIDKey(w.UserID) == uk) || (w.Field == "join_key" && strings.EqualFold(w.Value, who)) {
			say("warning: %s", w.String())
		}
	}
	k := model.UserIDKey(userid)
	if m := p.Shadow.Members[k]; m != nil {
		state := "enabled"
		if !m.Person.Enabled {
			state = "disabled"
			if !m.DisabledAt.IsZero() {
				state += " since " + m.DisabledAt.UTC().Format("2006-01-02")
			}
		}
		how := "created by orgsync"
		if m.Adopted {
			how = "adopted by orgsync"
		}
		say("orgsync manages WeCom member %s (%s), last applied: %s, departments [%s]", m.Person.UserID, how, state, strings.Join(m.Person.Departments, ", "))
	} else {
		say("orgsync does not manage a WeCom member %q", userid)
	}
	if c := p.Current.Members[k]; c != nil {
		say("WeCom now has %s in department ids %v", c.UserID, c.Departments)
	} else {
		say("WeCom now has no member %q in the managed scope", userid)
	}
	found := false
	for _, l := range [][]plan.UserChange{p.Changes.UserCreates, p.Changes.UserUpdates, p.Changes.UserMoves, p.Changes.UserEnables, p.Changes.UserDisables, p.Changes.UserDeletes} {
		for _, u := range l {
			if model.UserIDKey(u.UserID) == k || (person != nil && u.Key == person.Key) {
				found = true
				extra := ""
				if len(u.Fields) > 0 {
					extra = " fields " + strings.Join(u.Fields, ", ")
				}
				say("next sync: %s%s, because %s", u.Op, extra, u.Reason)
			}
		}
	}
	for _, h := range p.Changes.Held {
		if model.UserIDKey(h.Object) == k {
			found = true
			say("next sync: %s HELD by the guard: %s", h.Op, h.Reason)
		}
	}
	for _, n := range p.Changes.Notices {
		if model.UserIDKey(n.Object) == k {
			found = true
			say("note: %s", n.Msg)
		}
	}
	if !found {
		switch {
		case person == nil && p.Shadow.Members[k] == nil:
			say("next sync: nothing; %q is in no source and not managed by orgsync (see 'orgsync plan -c %s' for the full picture)", who, cfgPath)
		default:
			say("next sync: no change; WeCom already matches the source")
		}
	}
	if p.Refusal != nil {
		say("note: the guard would refuse this run as a whole: %s", p.Refusal.Reason)
	}
	return out
}

// Check tests connectivity for `validate`: each source is read, and WeCom
// answers with the configured secret. It returns a line per check and an
// error if any failed.
// ErrRulesDontFit: a mapping rule fails on every record a source gave (a
// configuration error).
var ErrRulesDontFit = errors.New("the mapping rules don't fit the records read")

// CheckLocal reads the sources that are files on this machine and checks
// the rules against their records (validate --offline: no server is
// contacted). It checks only when every source is local, since a union or
// a join can't be judged on a part of its sources; a file not there yet is
// noted, not an error. The error is the rules' problem (a config error).
func (e *Engine) CheckLocal(ctx context.Context) ([]string, error) {
	var batches []*connectors.Batch
	for _, s := range e.sources {
		if l, ok := s.src.(connectors.Local); !ok || !l.Local() {
			return []string{fmt.Sprintf("rules not checked against records: source %s is not a local file (run validate without --offline)", s.name)}, nil
		}
	}
	for _, s := range e.sources {
		b, err := s.src.List(ctx)
		if err != nil || b == nil {
			return []string{fmt.Sprintf("rules not checked against records: source %s: %v", s.name, err)}, nil
		}
		if b.Source == "" {
			b.Source = s.name
		}
		batches = append(batches, b)
	}
	if err := e.mapper.Probe(batches); err != nil {
		return []string{"mapping: FAILED on the records read: " + err.Error()}, fmt.Errorf("%w: %w", ErrRulesDontFit, err)
	}
	return []string{"mapping: ok on the records of the local files"}, nil
}

func (e *Engine) Check(ctx context.Context) ([]string, error) {
	var lines []string
	var failed []string
	var batches []*connectors.Batch
	for _, s := range e.sources {
		b, err := s.src.List(ctx)
		if b != nil {
			if b.Source == "" {
				b.Source = s.name
			}
			batches = append(batches, b)
		}
		switch {
		case err != nil:
			lines = append(lines, fmt.Sprintf("source %s: FAILED: %v", s.name, err))
			failed = append(failed, s.name)
		case !b.Complete:
			lines = append(lines, fmt.Sprintf("source %s: INCOMPLETE: %s (%d records)", s.name, b.Incomplete, len(b.Records)))
			failed = append(failed, s.name)
		default:
			lines = append(lines, fmt.Sprintf("source %s: ok, %d records from %s", s.name, len(b.Records), b.Location))
		}
	}
	if err := e.mapper.Probe(batches); err != nil {
		lines = append(lines, "mapping: FAILED on the records read: "+err.Error())
		failed = append(failed, "mapping")
	} else if len(batches) > 0 {
		lines = append(lines, "mapping: ok on the records read")
	}
	if err := e.openClient(); err != nil {
		return append(lines, "wecom: FAILED: "+err.Error()), err
	}
	if seen, err := e.dir.Check(ctx); err != nil {
		lines = append(lines, fmt.Sprintf("wecom %s: FAILED: %v", e.cfg.Target.Config.BaseURL, err))
		failed = append(failed, "wecom")
	} else {
		lines = append(lines, fmt.Sprintf("wecom %s: %s", e.cfg.Target.Config.BaseURL, seen))
	}
	if len(failed) > 0 {
		err := fmt.Errorf("checks failed: %s", strings.Join(failed, ", "))
		if slices.Contains(failed, "mapping") {
			err = fmt.Errorf("%w: %w", ErrRulesDontFit, err)
		}
		return lines, err
	}
	return lines, nil
}

// markExcluded gives each disable or delete of a member whose record
// mapping.include / mapping.exclude left out of scope the rule as its
// reason: the person is in the source, so "no longer in the source" would
// send the admin looking in the wrong place.
func markExcluded(c *plan.Changes, excluded []mapping.Exclusion) {
	if len(excluded) == 0 || c == nil {
		return
	}
	byKey := make(map[string]string, len(excluded))
	byUID := make(map[string]string, len(excluded))
	for _, x := range excluded {
		if x.Key != "" {
			byKey[x.Key] = x.Reason()
		}
		if x.UserID != "" {
			byUID[model.UserIDKey(x.UserID)] = x.Reason()
		}
	}
	for _, l := range []*[]plan.UserChange{&c.UserDisables, &c.UserDeletes} {
		for i := range *l {
			u := &(*l)[i]
			why, ok := byKey[u.Key]
			if !ok || u.Key == "" {
				if why, ok = byUID[model.UserIDKey(u.UserID)]; !ok {
					continue
				}
			}
			if strings.Contains(u.Reason, "no longer in the source") {
				u.Reason = strings.Replace(u.Reason, "no longer in the source", why+": out of scope", 1)
			} else {
				u.Reason = why + "; " + u.Reason
			}
		}
	}
}
