package state

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/orgsync/orgsync/internal/benchmem"
	"github.com/orgsync/orgsync/model"
)

// BenchmarkLoadShadow measures reading the shadow of 100k managed members,
// which every run does once.
func BenchmarkLoadShadow(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 100_000
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		p := model.Person{Key: fmt.Sprintf("E%07d", i), UserID: fmt.Sprintf("user%07d", i), Name: fmt.Sprintf("员工%d", i),
			Mobile: fmt.Sprintf("1380%07d", i), Email: fmt.Sprintf("user%07d@example.com", i), Position: "工程师",
			Departments: []string{fmt.Sprintf("总部/部门%03d", i%200)}, DirectLeaders: []string{"user0000001"}, Enabled: true}
		if err := s.apply(ctx, tx, Mutation{PutMember: &Member{Person: p}}); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh, err := s.LoadShadow(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(sh.Members) != n {
			b.Fatalf("loaded %d", len(sh.Members))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "members/s")
	b.ReportMetric(benchmem.MB(liveShadow(b, s)), "shadow_MB")
}

// liveShadow is the heap a loaded shadow holds on to: what stays live
// beside the rest of a run.
func liveShadow(b *testing.B, s *Store) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sh, err := s.LoadShadow(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(sh)
	return after.HeapAlloc - before.HeapAlloc
}
