// Package model holds the neutral types that every layer of orgsync exchanges:
// sources produce records that mapping turns into an Org of People and
// Departments; the target reads WeCom into the same types; plan diffs two Orgs.
//
// The types are plain structs (no map per person) so that 1M people stay
// compact in memory; index them by key once with Org.Index.
package model

import (
	"fmt"
	"strings"
)

// Origin says where a record came from, so that every error, plan line and
// explanation can point an admin at the source row: "employees.csv:12",
// "CN=Li Lei,OU=研发中心,DC=corp,DC=example,DC=test", "https://hr/api?page=3#17".
type Origin struct {
	Source  string // the configured source name, e.g. "hr"
	Locator string // file:line, DN, URL#index
}

func (o Origin) String() string {
	switch {
	case o.Source == "" && o.Locator == "":
		return ""
	case o.Source == "":
		return o.Locator
	case o.Locator == "":
		return o.Source
	}
	return o.Source + ":" + o.Locator
}

// Gender is WeCom's string-typed gender: "1" male, "2" female, "" unset.
type Gender string

const (
	GenderUnset  Gender = ""
	GenderMale   Gender = "1"
	GenderFemale Gender = "2"
)

// ExtAttr is one text extension attribute (WeCom extattr type 0).
type ExtAttr struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Person is one member as orgsync wants it (desired) or as it was last applied
// (shadow). Departments are department keys (see Department.Key), not WeCom
// ids: ids are resolved at apply time, so a desired Org can be built before
// its departments exist in WeCom.
//
// The fields most people leave empty (alias, biz_mail, telephone,
// main_department, leader_of, extattrs: 112 bytes) are a PersonMore behind
// one pointer, read with Alias(), LeaderOf(), … and written with SetAlias,
// SetMore, …: a Person is 208 bytes instead of 312, which at a million
// people on the desired and the shadow side is 208 MB. Gender stays a
// field: HR exports usually carry it for everyone. The pointer is nil
// when every one of them is zero, and is shared by copies of a Person, so
// it is never written through: every setter writes a new PersonMore.
//
// Its JSON is the same object it always was (see personWire), one key per
// field in the order below, whichever struct holds the field.
type Person struct {
	Key    string // the source's stable key (工号, objectGUID, employee id)
	UserID string // WeCom userid as sent (case preserved)
	Name   string

	Position string
	Mobile   string // normalised, see NormalizeMobile
	Email    string // lower-cased
	Gender   Gender

	Departments   []string // department keys; first is the main one unless MainDepartment is set
	DirectLeaders []string // userids (resolved from source keys by mapping)

	Enabled bool

	Origin Origin

	more *PersonMore
}

// PersonMore holds the fields of a Person that most people leave empty.
type PersonMore struct {
	Alias     string
	BizMail   string
	Telephone string

	MainDepartment string    // department key
	LeaderOf       []string  // department keys where the person is is_leader_in_dept=1
	ExtAttrs       []ExtAttr // sorted by Name
}

// Department is one department. Key is the stable identity orgsync uses:
// the "/"-joined path below the managed root (总部/研发中心) when departments
// come from paths, or the org code when they come from a department table.
// ID is WeCom's id once known (0 before creation).
type Department struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	ParentKey string `json:"parent_key,omitempty"` // "" = directly below the managed root
	Order     uint32 `json:"order,omitempty"`      // larger sorts first (WeCom)

	ID       int `json:"id,omitempty"`
	ParentID int `json:"parent_id,omitempty"`

	Origin Origin `json:"origin"`
}

// Org is a whole directory: what the sources want, or what WeCom holds.
type Org struct {
	People      []Person     `json:"people"`
	Departments []Department `json:"departments"`
}

// PathKey joins department path segments into a key.
func PathKey(segments ...string) string { return strings.Join(segments, "/") }

// ParentPath returns the parent key of a path key ("" for a top-level one).
func ParentPath(key string) string {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return ""
	}
	return key[:i]
}

// UserIDKey folds a userid for comparison: WeCom treats userids
// case-insensitively (ZhangSan and zhangsan collide).
func UserIDKey(userid string) string { return strings.ToLower(userid) }

// Index is a read-only lookup over an Org built once per run.
type Index struct {
	ByKey     map[string]int // Person.Key → position in People
	ByUserID  map[string]int // UserIDKey(Person.UserID) → position
	DeptByKey map[string]int // Department.Key → position in Departments
	DeptByID  map[int]int    // Department.ID → position (IDs > 0 only)
}

// Index builds lookups. It reports the first duplicate person key or folded
// userid as an error; mapping guarantees there are none in a desired Org.
func (o *Org) Index() (*Index, error) {
	ix := &Index{
		ByKey:     make(map[string]int, len(o.People)),
		ByUserID:  make(map[string]int, len(o.People)),
		DeptByKey: make(map[string]int, len(o.Departments)),
		DeptByID:  make(map[int]int, len(o.Departments)),
	}
	for i := range o.People {
		p := &o.People[i]
		if p.Key != "" {
			if j, dup := ix.ByKey[p.Key]; dup {
				return nil, fmt.Errorf("duplicate person key %q (%s and %s)", p.Key, o.People[j].Origin, p.Origin)
			}
			ix.ByKey[p.Key] = i
		}
		if p.UserID != "" {
			k := UserIDKey(p.UserID)
			if j, dup := ix.ByUserID[k]; dup {
				return nil, fmt.Errorf("duplicate userid %q (%s and %s)", p.UserID, o.People[j].Origin, p.Origin)
			}
			ix.ByUserID[k] = i
		}
	}
	for i := range o.Departments {
		d := &o.Departments[i]
		if d.Key != "" {
			if _, dup := ix.DeptByKey[d.Key]; dup {
				return nil, fmt.Errorf("duplicate department key %q", d.Key)
			}
			ix.DeptByKey[d.Key] = i
		}
		if d.ID > 0 {
			ix.DeptByID[d.ID] = i
		}
	}
	return ix, nil
}
