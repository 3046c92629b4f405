package conformance

import (
	"fmt"
	"slices"

	"github.com/orgsync/orgsync/model"
)

// Department keys of the fixture company: a three-level tree under the
// managed root, keyed by path as a path-only HR export keys it.
const (
	deptHQ      = "总部"
	deptRD      = "总部/研发中心"
	deptBackend = "总部/研发中心/后端组"
	deptSales   = "总部/销售部"
)

// company is the fixture: four departments in three levels and six people,
// each reporting to a direct leader. Reports are listed before their
// leaders, so a directory that creates in list order would name a leader
// that does not exist yet.
func company() model.Org {
	person := func(n int, name string, depts []string, leaders ...string) model.Person {
		return model.Person{
			Key: fmt.Sprintf("E%03d", n), UserID: fmt.Sprintf("u%02d", n), Name: name,
			Mobile: fmt.Sprintf("138000000%02d", n), Email: fmt.Sprintf("u%02d@example.com", n),
			Departments: depts, DirectLeaders: leaders, Enabled: true,
		}
	}
	hq := person(1, "张三", []string{deptHQ})
	hq.SetLeaderOf([]string{deptHQ})
	rd := person(2, "李四", []string{deptRD}, "u01")
	rd.SetLeaderOf([]string{deptRD})
	rd.Position = "研发总监"
	return model.Org{
		Departments: []model.Department{
			{Key: deptBackend, Name: "后端组", ParentKey: deptRD},
			{Key: deptSales, Name: "销售部", ParentKey: deptHQ, Order: 10},
			{Key: deptRD, Name: "研发中心", ParentKey: deptHQ, Order: 20},
			{Key: deptHQ, Name: "总部"},
		},
		People: []model.Person{
			person(3, "王五", []string{deptBackend}, "u02"),
			person(4, "赵六", []string{deptBackend}, "u02"),
			rd,
			person(5, "孙七", []string{deptSales}, "u01"),
			person(6, "周八", []string{deptSales, deptBackend}, "u01"),
			hq,
		},
	}
}

// many is a flat company of n people in two departments, without leaders.
func many(n int) model.Org {
	org := model.Org{Departments: []model.Department{
		{Key: "总部", Name: "总部"},
		{Key: "总部/客服部", Name: "客服部", ParentKey: "总部"},
	}}
	for i := 1; i <= n; i++ {
		dept := "总部"
		if i%2 == 0 {
			dept = "总部/客服部"
		}
		org.People = append(org.People, model.Person{
			Key: fmt.Sprintf("M%04d", i), UserID: fmt.Sprintf("m%04d", i), Name: fmt.Sprintf("客服%d", i),
			Mobile: fmt.Sprintf("1390000%04d", i), Departments: []string{dept}, Enabled: true,
		})
	}
	return org
}

// clone deep-copies an Org's slices, so that a case can change a copy.
func clone(o model.Org) model.Org {
	out := model.Org{Departments: slices.Clone(o.Departments), People: slices.Clone(o.People)}
	for i := range out.People {
		p := &out.People[i]
		p.Departments = slices.Clone(p.Departments)
		p.DirectLeaders = slices.Clone(p.DirectLeaders)
		more := p.More()
		more.LeaderOf, more.ExtAttrs = slices.Clone(more.LeaderOf), slices.Clone(more.ExtAttrs)
		p.SetMore(more)
	}
	return out
}

// edit returns a copy of o with f applied to the person with userid.
func edit(o model.Org, userid string, f func(p *model.Person)) model.Org {
	out := clone(o)
	for i := range out.People {
		if out.People[i].UserID == userid {
			f(&out.People[i])
			return out
		}
	}
	panic("conformance: no fixture person " + userid)
}

// without returns a copy of o without the people with these userids.
func without(o model.Org, userids ...string) model.Org {
	out := clone(o)
	out.People = slices.DeleteFunc(out.People, func(p model.Person) bool { return slices.Contains(userids, p.UserID) })
	return out
}

// withPerson returns a copy of o with p added (or replaced, by userid).
func withPerson(o model.Org, p model.Person) model.Org {
	out := without(o, p.UserID)
	out.People = append(out.People, p)
	return out
}

func person(o model.Org, userid string) model.Person {
	for _, p := range o.People {
		if p.UserID == userid {
			return p
		}
	}
	panic("conformance: no fixture person " + userid)
}
