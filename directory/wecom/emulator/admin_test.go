package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func (e *env) admin(method, path, body string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+"/emulator/"+path, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t, Options{})
	d := e.mkDept("D", 1)
	e.mkUser("Alice", d)

	t.Run("GET /emulator/state dumps departments and users", func(t *testing.T) {
		code, b := e.admin(http.MethodGet, "state", "")
		var s Snapshot
		if code != 200 || json.Unmarshal(b, &s) != nil {
			t.Fatalf("HTTP %d %s", code, b)
		}
		if len(s.Departments) != 2 || len(s.Users) != 1 || s.Users[0].UserID != "Alice" || s.Departments[0].ParentID != 0 {
			t.Fatalf("state %+v", s)
		}
	})
	t.Run("GET /emulator/stats counts calls per API and errcode, and writes", func(t *testing.T) {
		expect(t, e.post("user/create", m{"userid": "alice", "name": "x", "mobile": "13800000000"}), 60102)
		code, b := e.admin(http.MethodGet, "stats", "")
		var st Stats
		if code != 200 || json.Unmarshal(b, &st) != nil {
			t.Fatalf("HTTP %d %s", code, b)
		}
		if st.Calls["user/create"] != 2 || st.Errors["user/create"][0] != 1 || st.Errors["user/create"][60102] != 1 || st.Writes != 3 || st.Calls["gettoken"] != 1 {
			t.Fatalf("stats %s", b)
		}
	})
	t.Run("POST /emulator/stats/reset zeroes the counters", func(t *testing.T) {
		if code, _ := e.admin(http.MethodPost, "stats/reset", ""); code != 200 {
			t.Fatal(code)
		}
		if st := e.emu.Stats(); len(st.Calls) != 0 || st.Writes != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("GET|POST /emulator/faults reads and sets faults; bad ones are 400", func(t *testing.T) {
		if code, b := e.admin(http.MethodPost, "faults", `{"rate":1,"kinds":["busy"]}`); code != 200 || !strings.Contains(string(b), `"busy"`) {
			t.Fatalf("HTTP %d %s", code, b)
		}
		expect(t, e.get("department/simplelist"), -1)
		if code, b := e.admin(http.MethodGet, "faults", ""); code != 200 || !strings.Contains(string(b), `"rate":1`) {
			t.Fatalf("HTTP %d %s", code, b)
		}
		if code, _ := e.admin(http.MethodPost, "faults", `{"rate":1,"kinds":["nope"]}`); code != 400 {
			t.Fatalf("HTTP %d, want 400", code)
		}
		e.admin(http.MethodPost, "faults", `{"rate":0}`)
		expect(t, e.get("department/simplelist"), 0)
	})
	t.Run("POST /emulator/tokens/expire and /tokens/invalidate", func(t *testing.T) {
		e.admin(http.MethodPost, "tokens/expire", "")
		expect(t, e.get("department/simplelist"), 42001)
		e.token = e.tokenFor(editSecret)
		e.admin(http.MethodPost, "tokens/invalidate", "")
		expect(t, e.get("department/simplelist"), 40014)
		e.token = e.tokenFor(editSecret)
	})
	t.Run("POST /emulator/users/activate marks a member activated", func(t *testing.T) {
		if code, _ := e.admin(http.MethodPost, "users/activate?userid=alice", ""); code != 200 {
			t.Fatal(code)
		}
		if r := e.get("user/get", "userid", "alice"); r["status"].(float64) != StatusActive {
			t.Fatalf("user %v", r)
		}
		if code, _ := e.admin(http.MethodPost, "users/activate?userid=ghost", ""); code != 404 {
			t.Fatalf("HTTP %d, want 404", code)
		}
	})
	t.Run("wrong method is 405", func(t *testing.T) {
		if code, _ := e.admin(http.MethodGet, "reset", ""); code != 405 {
			t.Fatalf("HTTP %d", code)
		}
	})
	t.Run("POST /emulator/reset leaves only the root department", func(t *testing.T) {
		e.admin(http.MethodPost, "reset", "")
		s := e.emu.State()
		if len(s.Users) != 0 || len(s.Departments) != 1 || s.Departments[0].ID != 1 || s.Departments[0].Name != "Emulated Corp" {
			t.Fatalf("state %+v", s)
		}
		expect(t, e.get("department/simplelist"), 0) // tokens survive a reset
	})
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wecom.json")
	e := newEnv(t, Options{DataFile: path})
	d := e.mkDept("研发", 1, "order", 9, "name_en", "R&D")
	expect(t, e.post("user/create", m{"userid": "ZhangSan", "name": "张三", "mobile": "+86 13800000001", "email": "zs@example.com",
		"department": []int64{d, 1}, "order": []int{3, 4}, "is_leader_in_dept": []int{1, 0}, "enable": 0,
		"extattr": m{"attrs": []m{{"type": 0, "name": "工号", "text": m{"value": "007"}}}}}), 0)
	e.mkUser("lisi", d)
	e.emu.Activate("lisi")
	before := e.emu.State()
	if err := e.emu.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	e2 := newEnv(t, Options{DataFile: path})
	t.Run("the state survives Close and New", func(t *testing.T) {
		if after := e2.emu.State(); !reflect.DeepEqual(normalise(before), normalise(after)) {
			t.Fatalf("before %+v\nafter %+v", before, after)
		}
	})
	t.Run("indexes are rebuilt: 60102, 60104 and 60005 still hold", func(t *testing.T) {
		expect(t, e2.post("user/create", m{"userid": "zhangsan", "name": "x", "mobile": "13900000000"}), 60102)
		expect(t, e2.post("user/create", m{"userid": "other", "name": "x", "mobile": "13800000001"}), 60104)
		expect(t, e2.get("department/delete", "id", "2"), 60005)
	})
	t.Run("activation survives: mobile updates stay ignored", func(t *testing.T) {
		expect(t, e2.post("user/update", m{"userid": "lisi", "mobile": "13700000000"}), 0)
		if r := e2.get("user/get", "userid", "lisi"); r.str("mobile") != "" || r["status"].(float64) != StatusActive {
			t.Fatalf("user %v", r)
		}
	})
	t.Run("POST /emulator/save writes the file", func(t *testing.T) {
		e2.mkUser("saved")
		if code, b := e2.admin(http.MethodPost, "save", ""); code != 200 {
			t.Fatalf("HTTP %d %s", code, b)
		}
		b, _ := os.ReadFile(path)
		if !strings.Contains(string(b), `"saved"`) {
			t.Fatal("saved user not in the data file")
		}
	})
	t.Run("a missing data file starts empty; a corrupt one is an error", func(t *testing.T) {
		if _, err := New(Options{DataFile: filepath.Join(t.TempDir(), "none.json")}, nil); err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "bad.json")
		_ = os.WriteFile(bad, []byte("{"), 0o600)
		if _, err := New(Options{DataFile: bad}, nil); err == nil {
			t.Fatal("corrupt data file accepted")
		}
	})
}

// normalise makes nil and empty raw JSON compare equal.
func normalise(s Snapshot) Snapshot {
	b, _ := json.Marshal(s)
	var out Snapshot
	_ = json.Unmarshal(b, &out)
	for i := range out.Users {
		out.Users[i].ExtAttr = compact(out.Users[i].ExtAttr)
	}
	return out
}

func compact(r json.RawMessage) json.RawMessage {
	if r == nil {
		return nil
	}
	var v any
	_ = json.Unmarshal(r, &v)
	b, _ := json.Marshal(v)
	return b
}
