package directory

import (
	"encoding/json"

	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// Settlement is how a journal entry an earlier run left pending or
// uncertain is settled: its status, why, and the shadow mutation to make.
type Settlement struct {
	Status string // state.StatusResolved (it was made) or state.StatusFailed (it was not, or can't be read back)
	Msg    string
	Mut    state.Mutation
}

// Settle decides an entry left pending (the process died between the
// call and its journal entry) or uncertain (the answer was lost) from the
// directory's current state: a create whose object now exists was made by
// that run (department ids are orgsync's own, so they are recognisable),
// as was a delete whose object is gone; anything else is settled as not
// made and simply planned again, which is idempotent. The engine and the
// directory conformance suite both settle with it.
func Settle(en state.Entry, cur plan.Current) Settlement {
	const (
		happened = "settled by a later run: the directory's lists show the change was made"
		notMade  = "settled by a later run: the directory's lists show it was not made; planned again if still needed"
		unknown  = "settled by a later run: the outcome can't be read back; planned again if still needed (the change is idempotent)"
	)
	s := Settlement{Status: state.StatusFailed, Msg: unknown}
	made := func(m state.Mutation) Settlement {
		return Settlement{Status: state.StatusResolved, Msg: happened, Mut: m}
	}
	switch plan.Op(en.Op) {
	case plan.OpUserCreate:
		s.Msg = notMade
		var p model.Person
		if cur.Members[model.UserIDKey(en.Object)] != nil && json.Unmarshal(en.After, &p) == nil && p.UserID != "" {
			return made(state.Mutation{PutMember: &state.Member{Person: p}})
		}
	case plan.OpDeptCreate:
		s.Msg = notMade
		var d model.Department
		if json.Unmarshal(en.After, &d) == nil && d.ID > 0 {
			if _, ok := cur.Departments[d.ID]; ok {
				return made(state.Mutation{PutDept: &state.Dept{Department: d}})
			}
		}
	case plan.OpUserDelete:
		s.Msg = notMade
		k := model.UserIDKey(en.Object)
		if cur.Members[k] == nil && cur.Outside[k] == nil {
			return made(state.Mutation{DeleteMember: en.Object})
		}
	case plan.OpDeptDelete:
		s.Msg = notMade
		var d model.Department
		if json.Unmarshal(en.Before, &d) == nil {
			if _, ok := cur.Departments[d.ID]; !ok {
				return made(state.Mutation{DeleteDept: en.Object})
			}
		}
	}
	return s
}
