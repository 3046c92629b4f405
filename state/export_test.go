package state

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/orgsync/orgsync/model"
)

func openShadowTemp(t *testing.T) *Store {
	t.Helper()
	st, _ := openTemp(t)
	return st
}

func TestAnExportImportsIntoAnEmptyStoreAsTheSameShadow(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		src := open(t)
		if err := src.ApplyAll(ctx, []Mutation{
			{PutMember: &Member{Person: model.Person{UserID: "ZhangSan", Key: "E1", Name: "张三", Enabled: true}, Adopted: true}},
			{PutDept: &Dept{Department: model.Department{Key: "研发", Name: "研发", ID: 7}}},
		}); err != nil {
			t.Fatal(err)
		}
		ex, err := src.Export(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteExport(&buf, ex); err != nil {
			t.Fatal(err)
		}
		back, err := ReadExport(&buf)
		if err != nil {
			t.Fatal(err)
		}
		dst := open(t)
		if err := dst.Import(ctx, back, false); err != nil {
			t.Fatal(err)
		}
		sh, err := dst.LoadShadow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m := sh.Members["zhangsan"]; m == nil || !m.Adopted || m.Person.Name != "张三" || sh.Departments["研发"].Department.ID != 7 {
			t.Fatalf("imported shadow = %+v", sh)
		}
		if err := dst.Import(ctx, back, false); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("a second import into a full store: %v", err)
		}
		if err := dst.Import(ctx, &Export{Format: ExportFormat}, true); err != nil {
			t.Fatal(err)
		}
		if sh, _ := dst.LoadShadow(ctx); len(sh.Members)+len(sh.Departments) != 0 {
			t.Fatalf("--replace kept %+v", sh)
		}
	})
}

func TestReadExportRejectsWhatIsNotAShadowExport(t *testing.T) {
	for name, in := range map[string]string{
		"not json":          "{",
		"another format":    `{"format":"x/1"}`,
		"an unknown field":  `{"format":"orgsync-shadow/1","extra":1}`,
		"a userless member": `{"format":"orgsync-shadow/1","members":[{"Person":{"name":"x"}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ReadExport(bytes.NewBufferString(in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSnapshotsAreWrittenWholeAndTheNewestAreKept(t *testing.T) {
	ctx := context.Background()
	st := openShadowTemp(t)
	for run := int64(1); run <= 5; run++ {
		if _, err := st.Snapshot(ctx, run, 3); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := filepath.Glob(filepath.Join(st.SnapshotDir(), "*"))
	if len(all) != 3 || filepath.Base(LatestSnapshot(st.Path())) != "shadow-00000005.json" {
		t.Fatalf("snapshots %v", all)
	}
	f, err := os.Open(LatestSnapshot(st.Path()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ReadExport(f); err != nil {
		t.Fatal(err)
	}
}
