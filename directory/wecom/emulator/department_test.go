package emulator

import (
	"strconv"
	"strings"
	"testing"
)

func TestDepartmentCreate(t *testing.T) {
	e := newEnv(t, Options{})
	sales := e.mkDept("Sales", 1, "name_en", "Sales EN")
	e.mkDept("Fixed", 1, "id", 100)
	cases := []struct {
		name string
		body m
		want int
	}{
		{"60008: duplicate id", m{"name": "Other", "parentid": 1, "id": 100}, 60008},
		{"60008: id 1 is the root", m{"name": "Other", "parentid": 1, "id": 1}, 60008},
		{"60008: sibling name taken", m{"name": "Sales", "parentid": 1}, 60008},
		{"60008: sibling name_en taken", m{"name": "Sales 2", "name_en": "Sales EN", "parentid": 1}, 60008},
		{"60004: parent missing", m{"name": "X", "parentid": 999}, 60004},
		{"60004: parentid absent", m{"name": "X"}, 60004},
		{"60001: name absent", m{"parentid": 1}, 60001},
		{"60001: name empty", m{"name": "", "parentid": 1}, 60001},
		{"60001: name over 64 characters", m{"name": strings.Repeat("部", 65), "parentid": 1}, 60001},
		{"60123: negative id", m{"name": "X", "parentid": 1, "id": -5}, 60123},
		{"40058: order not uint32", m{"name": "X", "parentid": 1, "order": 1 << 33}, 40058},
		{"0: same name under another parent", m{"name": "Sales", "parentid": sales}, 0},
		{"0: 64 characters", m{"name": strings.Repeat("部", 64), "parentid": 1}, 0},
	}
	for _, ch := range `\:*?"<>|` {
		cases = append(cases, struct {
			name string
			body m
			want int
		}{"60009: name with " + string(ch), m{"name": "a" + string(ch) + "b", "parentid": 1}, 60009})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expect(t, e.post("department/create", c.body), c.want) })
	}
	t.Run("an omitted id is assigned: the next free one", func(t *testing.T) {
		st := e.emu.State()
		largest := st.Departments[len(st.Departments)-1].ID
		if id := e.mkDept("Auto", 1); id != largest+1 || largest < 100 {
			t.Fatalf("id %d, want %d (after the largest)", id, largest+1)
		}
	})
}

func TestDepartmentNameStrictMode(t *testing.T) {
	e := newEnv(t, Options{DeptNameMaxChars: 32})
	t.Run("60001: 33 characters in 32-character mode", func(t *testing.T) {
		expect(t, e.post("department/create", m{"name": strings.Repeat("a", 33), "parentid": 1}), 60001)
	})
	t.Run("0: 32 characters", func(t *testing.T) {
		expect(t, e.post("department/create", m{"name": strings.Repeat("a", 32), "parentid": 1}), 0)
	})
}

func TestDepartmentDepth(t *testing.T) {
	e := newEnv(t, Options{})
	parent := int64(1)
	var chain []int64
	for i := 2; i <= 15; i++ { // root is level 1; this builds levels 2..15
		parent = e.mkDept("L"+strconv.Itoa(i), parent)
		chain = append(chain, parent)
	}
	t.Run("81002: a 16th level on create", func(t *testing.T) {
		expect(t, e.post("department/create", m{"name": "L16", "parentid": parent}), 81002)
	})
	t.Run("81002: a move that makes the tree deeper than 15", func(t *testing.T) {
		a := e.mkDept("A", 1)
		e.mkDept("B", a)
		// A (2 levels) under level 14 would reach 16.
		expect(t, e.post("department/update", m{"id": a, "parentid": chain[len(chain)-2]}), 81002)
		expect(t, e.post("department/update", m{"id": a, "parentid": chain[len(chain)-3]}), 0)
	})
}

func TestDepartmentUpdate(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.mkDept("A", 1)
	b := e.mkDept("B", a)
	c := e.mkDept("C", b)
	e.mkDept("Taken", 1)
	for _, tc := range []struct {
		name string
		body m
		want int
	}{
		{"60010: parent is itself", m{"id": a, "parentid": a}, 60010},
		{"60010: parent is a descendant", m{"id": a, "parentid": c}, 60010},
		{"60010: the root can not move", m{"id": 1, "parentid": a}, 60010},
		{"60003: unknown id", m{"id": 999, "name": "x"}, 60003},
		{"60003: id absent", m{"name": "x"}, 60003},
		{"60004: new parent missing", m{"id": b, "parentid": 999}, 60004},
		{"60008: rename onto a sibling's name", m{"id": a, "name": "Taken"}, 60008},
		{"60009: rename with a forbidden character", m{"id": a, "name": "a|b"}, 60009},
		{"0: move B to the root", m{"id": b, "parentid": 1}, 0},
		{"0: the root can be renamed", m{"id": 1, "name": "Corp"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) { expect(t, e.post("department/update", tc.body), tc.want) })
	}
	t.Run("omitted fields stay unchanged", func(t *testing.T) {
		expect(t, e.post("department/update", m{"id": c, "order": 7}), 0)
		r := e.get("department/get", "id", strconv.FormatInt(c, 10))
		d := r["department"].(map[string]any)
		if d["name"] != "C" || d["parentid"].(float64) != float64(b) || d["order"].(float64) != 7 {
			t.Fatalf("department %v", d)
		}
	})
}

func TestDepartmentDelete(t *testing.T) {
	e := newEnv(t, Options{})
	parent := e.mkDept("Parent", 1)
	e.mkDept("Child", parent)
	withMember := e.mkDept("Members", 1)
	e.mkUser("u1", withMember)
	empty := e.mkDept("Empty", 1)
	for _, c := range []struct {
		name string
		id   string
		want int
	}{
		{"60007: the root", "1", 60007},
		{"60006: has sub-departments", strconv.FormatInt(parent, 10), 60006},
		{"60005: has members", strconv.FormatInt(withMember, 10), 60005},
		{"60003: unknown id", "999", 60003},
		{"0: empty department", strconv.FormatInt(empty, 10), 0},
		{"60003: already deleted", strconv.FormatInt(empty, 10), 60003},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, e.get("department/delete", "id", c.id), c.want) })
	}
	t.Run("0: after its member leaves", func(t *testing.T) {
		expect(t, e.get("user/delete", "userid", "u1"), 0)
		expect(t, e.get("department/delete", "id", strconv.FormatInt(withMember, 10)), 0)
	})
}

func TestDepartmentLists(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.mkDept("A", 1, "order", 1)
	b := e.mkDept("B", 1, "order", 5)
	a1 := e.mkDept("A1", a)
	e.mkDept("Other", b)
	ids := func(r resp, key string) []int64 {
		var out []int64
		for _, x := range r.list(key) {
			out = append(out, int64(x.(map[string]any)["id"].(float64)))
		}
		return out
	}
	t.Run("simplelist without id: the whole tree, root parentid 0, larger order first", func(t *testing.T) {
		r := e.get("department/simplelist")
		expect(t, r, 0)
		got := ids(r, "department_id")
		if len(got) != 5 || got[0] != 1 || got[1] != b {
			t.Fatalf("ids %v: want root first, then B (order 5) before A (order 1)", got)
		}
		root := r.list("department_id")[0].(map[string]any)
		if root["parentid"].(float64) != 0 {
			t.Fatalf("root %v, want parentid 0", root)
		}
	})
	t.Run("list with id: the department itself and its descendants", func(t *testing.T) {
		r := e.get("department/list", "id", strconv.FormatInt(a, 10))
		expect(t, r, 0)
		got := ids(r, "department")
		if len(got) != 2 || got[0] != a || got[1] != a1 {
			t.Fatalf("ids %v, want [%d %d]", got, a, a1)
		}
	})
	t.Run("60003: list with an unknown id", func(t *testing.T) {
		expect(t, e.get("department/simplelist", "id", "999"), 60003)
		expect(t, e.get("department/get", "id", "999"), 60003)
	})
	t.Run("department_leader lists members with is_leader_in_dept=1", func(t *testing.T) {
		expect(t, e.post("user/create", m{"userid": "Boss", "name": "Boss", "email": "boss@example.com",
			"department": []int64{a, b}, "is_leader_in_dept": []int{1, 0}}), 0)
		d := e.get("department/get", "id", strconv.FormatInt(a, 10))["department"].(map[string]any)
		if l := d["department_leader"].([]any); len(l) != 1 || l[0] != "Boss" {
			t.Fatalf("department_leader %v", d["department_leader"])
		}
		d = e.get("department/get", "id", strconv.FormatInt(b, 10))["department"].(map[string]any)
		if l := d["department_leader"].([]any); len(l) != 0 {
			t.Fatalf("department_leader %v, want []", d["department_leader"])
		}
	})
}

func TestDepartmentNodeLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 30,000 departments")
	}
	e := newEnv(t, Options{})
	big := e.mkDept("Big", 1)
	// Fill in-process: 30,000 HTTP calls would only test net/http.
	e.emu.mu.Lock()
	for i := int64(0); i < maxDirectNodes-1; i++ {
		e.emu.dir.insertDept(&dept{id: 1000 + i, parent: big, name: "n" + strconv.FormatInt(i, 10)})
	}
	e.emu.mu.Unlock()
	t.Run("81001: a department with 30,000 direct nodes (sub-departments plus members)", func(t *testing.T) {
		e.mkUser("last", big) // the 30,000th node
		expect(t, e.post("user/create", m{"userid": "more", "name": "m", "mobile": "13800000000", "department": []int64{big}}), 81001)
	})
	t.Run("81001: a corp with 30,000 departments", func(t *testing.T) {
		expect(t, e.post("department/create", m{"name": "elsewhere", "parentid": 1}), 81001)
		expect(t, e.post("department/create", m{"name": "one more", "parentid": big}), 81001)
	})
}
