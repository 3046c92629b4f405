package plan

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/orgsync/orgsync/model"
)

// benchWorld builds n people in 200 departments, all already applied, with
// 1% of them changed in the source: the shape of an ordinary night.
func benchWorld(n int) Input {
	const depts = 200
	in := Input{
		Shadow:  &Shadow{Members: make(map[string]*ShadowMember, n), Departments: map[string]*ShadowDept{}},
		Current: Current{Departments: map[int]CurrentDept{1: {ID: 1}}, Members: make(map[string]*CurrentMember, n)},
		Policy:  Policy{Mode: ModeSync, DeleteAfter: 720 * time.Hour},
		Now:     time.Now(),
	}
	for d := 0; d < depts; d++ {
		key := fmt.Sprintf("总部/部门%03d", d)
		dep := model.Department{Key: key, Name: fmt.Sprintf("部门%03d", d), ParentKey: "总部"}
		in.Desired.Departments = append(in.Desired.Departments, dep)
		dep.ID = 100 + d
		in.Shadow.Departments[key] = &ShadowDept{Department: dep}
		in.Current.Departments[dep.ID] = CurrentDept{ID: dep.ID, ParentID: 2}
	}
	root := model.Department{Key: "总部", Name: "总部", ID: 2, ParentID: 1}
	in.Desired.Departments = append(in.Desired.Departments, model.Department{Key: "总部", Name: "总部"})
	in.Shadow.Departments["总部"] = &ShadowDept{Department: root}
	in.Current.Departments[2] = CurrentDept{ID: 2, ParentID: 1}
	in.Desired.People = make([]model.Person, n)
	for i := 0; i < n; i++ {
		d := i % depts
		p := model.Person{Key: fmt.Sprintf("E%07d", i), UserID: fmt.Sprintf("user%07d", i), Name: fmt.Sprintf("员工%d", i),
			Mobile: fmt.Sprintf("1380%07d", i), Email: fmt.Sprintf("user%07d@example.com", i), Position: "工程师",
			Departments: []string{fmt.Sprintf("总部/部门%03d", d)}, Enabled: true}
		in.Desired.People[i] = p
		applied := p
		if i%100 == 0 {
			applied.Position = "旧职位"
		}
		in.Shadow.Members[model.UserIDKey(p.UserID)] = &ShadowMember{Person: applied}
		in.Current.Members[model.UserIDKey(p.UserID)] = &CurrentMember{UserID: p.UserID, Departments: []int{100 + d}}
	}
	return in
}

// BenchmarkCalculate measures the diff alone (read and map are measured in
// their packages); DESIGN §5 budgets read + map + diff of 100k people at
// ≤ 2 s and ≤ 300 MB on 2 cores.
func BenchmarkCalculate(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("people=%d", n), func(b *testing.B) {
			in := benchWorld(n)
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			var c *Changes
			for i := 0; i < b.N; i++ {
				c = Calculate(in)
			}
			b.StopTimer()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if len(c.UserUpdates) != n/100 {
				b.Fatalf("updates = %d, want %d", len(c.UserUpdates), n/100)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "people/s")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MB_alloc/op")
		})
	}
}
