package state

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orgsync/orgsync/model"
)

func TestBeginManyAndFinishManyJournalAJobsRowsInOneTransactionEach(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := context.Background()
		s := open(t)
		ids, err := s.BeginMany(ctx, 7, []BeginEntry{
			{Op: "user_create", Object: "a", After: model.Person{UserID: "a"}},
			{Op: "user_create", Object: "b", After: model.Person{UserID: "b"}},
			{Op: "user_update", Object: "c", Before: model.Person{UserID: "c"}, After: model.Person{UserID: "c", Position: "x"}},
		})
		if err != nil || len(ids) != 3 || ids[0] >= ids[1] || ids[1] >= ids[2] {
			t.Fatalf("BeginMany = %v, %v", ids, err)
		}
		pend, err := s.Pending(ctx)
		if err != nil || len(pend) != 3 || pend[2].Op != "user_update" || pend[0].RunID != 7 {
			t.Fatalf("pending after BeginMany: %+v %v", pend, err)
		}
		err = s.FinishMany(ctx, []FinishEntry{
			{ID: ids[0], Status: StatusDone, Mut: Mutation{PutMember: &Member{Person: model.Person{UserID: "a", Key: "E1"}}}},
			{ID: ids[1], Status: StatusFailed, Errcode: 60104, Errmsg: "mobile taken", Mut: Mutation{PutMember: &Member{Person: model.Person{UserID: "b"}}}},
			{ID: ids[2], Status: StatusUncertain, Errmsg: "no result"},
		})
		if err != nil {
			t.Fatal(err)
		}
		pend, _ = s.Pending(ctx)
		if len(pend) != 1 || pend[0].ID != ids[2] {
			t.Fatalf("pending after FinishMany: %+v", pend)
		}
		sh, _ := s.LoadShadow(ctx)
		if sh.Members["a"] == nil || sh.Members["b"] != nil {
			t.Fatalf("a done row's mutation is applied and a failed row's is not: %v", sh.Members)
		}
	})
}

func TestAFencedBeginManyJournalsNothing(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	a, b := openHA(t, dsn, "a"), openHA(t, dsn, "b")
	mustAcquire(t, a, time.Minute)
	if _, err := b.BeginMany(ctx, 1, []BeginEntry{{Op: "user_create", Object: "x"}, {Op: "user_create", Object: "y"}}); !errors.Is(err, ErrFenced) {
		t.Fatalf("a standby's BeginMany: %v", err)
	}
	if pend, err := a.Pending(ctx); err != nil || len(pend) != 0 {
		t.Fatalf("the fenced BeginMany wrote %+v (%v)", pend, err)
	}
}
