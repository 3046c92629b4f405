package state

import (
	"context"
	"slices"
	"testing"

	"github.com/orgsync/orgsync/model"
)

func TestRekeyRenamesDepartmentKeysEverywhereAtOnce(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		st := open(t)
		if err := st.ApplyAll(ctx, []Mutation{
			{PutDept: &Dept{Department: model.Department{Key: "总部", Name: "总部", ID: 2}}},
			{PutDept: &Dept{Department: model.Department{Key: "总部/前端组", Name: "前端组", ParentKey: "总部", ID: 3}}},
			{PutDept: &Dept{Department: model.Department{Key: "总部/后端组", Name: "后端组", ParentKey: "总部", ID: 4}}},
			{PutMember: &Member{Person: model.Person{UserID: "a", Departments: []string{"总部/前端组"}}.With(model.PersonMore{MainDepartment: "总部/前端组"})}},
			{PutMember: &Member{Person: model.Person{UserID: "b", Departments: []string{"总部/后端组"}}.With(model.PersonMore{LeaderOf: []string{"总部/后端组"}})}},
			{PutMember: &Member{Person: model.Person{UserID: "c", Departments: []string{"总部"}}}},
		}); err != nil {
			t.Fatal(err)
		}
		swap := map[string]string{"总部/前端组": "总部/后端组", "总部/后端组": "总部/前端组", "总部": "公司"}
		before, err := st.LoadShadow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inMemory := before.Rekey(swap)
		if err := st.ApplyAll(ctx, []Mutation{{RekeyDepts: swap}}); err != nil {
			t.Fatal(err)
		}
		stored, err := st.LoadShadow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for name, sh := range map[string]*Shadow{"in memory": inMemory, "stored": stored} {
			if d := sh.Departments["总部/后端组"]; d == nil || d.Department.ID != 3 || d.Department.ParentKey != "公司" {
				t.Fatalf("%s: 总部/后端组 = %+v", name, d)
			}
			if sh.Departments["公司"].Department.ID != 2 {
				t.Fatalf("%s: 公司 = %+v", name, sh.Departments["公司"])
			}
			a, b, c := sh.Members["a"].Person, sh.Members["b"].Person, sh.Members["c"].Person
			if !slices.Equal(a.Departments, []string{"总部/后端组"}) || a.MainDepartment() != "总部/后端组" ||
				!slices.Equal(b.Departments, []string{"总部/前端组"}) || !slices.Equal(b.LeaderOf(), []string{"总部/前端组"}) ||
				!slices.Equal(c.Departments, []string{"公司"}) {
				t.Fatalf("%s: members %+v %+v %+v", name, a, b, c)
			}
		}
		if before.Departments["总部/前端组"].Department.ID != 3 {
			t.Fatal("Rekey changed the shadow it was given")
		}
	})
}
