// Package conformance is the test suite every Source implementation runs
// (as dex's storage/conformance does for storages): it states the Source
// contract as tests, so a new connector cannot quietly weaken it.
package conformance

import (
	"context"
	"fmt"
	"testing"

	"github.com/orgsync/orgsync/connectors"
)

// Person is a fixture person. Harness.New must serve each as one record in
// which KeyField holds Key and NameField holds Name.
type Person struct {
	Key  string
	Name string
	Mail string
	Dept string // "/"-separated path; a source may ignore it
}

// Harness adapts one connector to the suite.
type Harness struct {
	// New returns a source that serves exactly these people.
	New func(t *testing.T, people []Person) connectors.Source
	// Broken returns a source that starts serving these people but cannot
	// finish (truncated file, server gone mid-read, a page fails). List must
	// return an error or an incomplete batch, never a short complete one.
	Broken func(t *testing.T, people []Person) connectors.Source
	// Unreachable returns a source that cannot be read at all (missing file,
	// wrong password, closed port).
	Unreachable func(t *testing.T) connectors.Source
	KeyField    string
	NameField   string
	// Many is how many people the large-read case uses (paging, buffering);
	// default 2500.
	Many int
}

// People returns n fixture people with CJK names and departments.
func People(n int) []Person {
	depts := []string{"总部/研发中心/后端组", "总部/研发中心/前端组", "总部/销售部", "总部/人力资源部"}
	out := make([]Person, n)
	for i := range out {
		out[i] = Person{
			Key:  fmt.Sprintf("E%05d", i+1),
			Name: fmt.Sprintf("员工%d", i+1),
			Mail: fmt.Sprintf("user%05d@example.com", i+1),
			Dept: depts[i%len(depts)],
		}
	}
	return out
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Many == 0 {
		h.Many = 2500
	}
	t.Run("returns every record with its key, name and a unique origin", func(t *testing.T) {
		checkAll(t, h, People(7))
	})
	t.Run("returns every record of a large source", func(t *testing.T) {
		checkAll(t, h, People(h.Many))
	})
	t.Run("a source with no people yields an empty batch or an error, never a fabricated record", func(t *testing.T) {
		src := h.New(t, nil)
		b, err := src.List(context.Background())
		if err == nil && len(b.Records) != 0 {
			t.Fatalf("empty source returned %d records", len(b.Records))
		}
	})
	t.Run("a source that cannot finish reading fails or says it is incomplete", func(t *testing.T) {
		if h.Broken == nil {
			t.Skip("connector has no way to break a read midway")
		}
		people := People(h.Many)
		b, err := h.Broken(t, people).List(context.Background())
		if err == nil && b.Complete {
			t.Fatalf("broken read returned a complete batch of %d records (want error or Complete=false)", len(b.Records))
		}
		if err == nil && b.Incomplete == "" {
			t.Fatal("incomplete batch without a reason")
		}
	})
	t.Run("an unreachable source returns an error", func(t *testing.T) {
		if h.Unreachable == nil {
			t.Skip("no unreachable variant")
		}
		if _, err := h.Unreachable(t).List(context.Background()); err == nil {
			t.Fatal("unreachable source returned no error")
		}
	})
	t.Run("a cancelled context stops the read with an error", func(t *testing.T) {
		src := h.New(t, People(50))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		b, err := src.List(ctx)
		if err == nil && b.Complete {
			t.Fatal("List on a cancelled context returned a complete batch")
		}
	})
}

func checkAll(t *testing.T, h Harness, people []Person) {
	t.Helper()
	b, err := h.New(t, people).List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !b.Complete {
		t.Fatalf("batch incomplete: %s", b.Incomplete)
	}
	if len(b.Records) != len(people) {
		t.Fatalf("got %d records, want %d", len(b.Records), len(people))
	}
	want := make(map[string]string, len(people))
	for _, p := range people {
		want[p.Key] = p.Name
	}
	origins := make(map[string]bool, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		key := r.String(h.KeyField)
		name, ok := want[key]
		if !ok {
			t.Fatalf("record %d has unexpected key %q (field %s)", i, key, h.KeyField)
		}
		delete(want, key)
		if got := r.String(h.NameField); got != name {
			t.Fatalf("record %s: name %q, want %q", key, got, name)
		}
		if r.Values != nil && r.Texts != nil {
			t.Fatalf("record %s holds both Values and Texts: a record gives its values in one form", key)
		}
		o := r.Origin.String()
		if r.Origin.Locator == "" {
			t.Fatalf("record %s has no origin locator", key)
		}
		if origins[o] {
			t.Fatalf("origin %q used twice", o)
		}
		origins[o] = true
	}
	if len(want) != 0 {
		t.Fatalf("%d people missing", len(want))
	}
}
