package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/orgsync/orgsync/model"
)

// Op names one kind of change; the names are the run report's keys.
type Op string

const (
	OpDeptCreate  Op = "department_create"
	OpDeptUpdate  Op = "department_update"
	OpDeptDelete  Op = "department_delete"
	OpUserCreate  Op = "user_create"
	OpUserUpdate  Op = "user_update"
	OpUserMove    Op = "user_move"
	OpUserDisable Op = "user_disable"
	OpUserEnable  Op = "user_enable"
	OpUserDelete  Op = "user_delete"
)

// AllOps lists the ops in apply order.
var AllOps = []Op{OpDeptCreate, OpDeptUpdate, OpUserCreate, OpUserUpdate, OpUserMove, OpUserEnable, OpUserDisable, OpUserDelete, OpDeptDelete}

// DeptChange is one department change. For create, After.ID is the id
// orgsync assigns (WeCom accepts ids > 1 on create), so a run killed after
// the call can recognise its own department on the next run.
type DeptChange struct {
	Op     Op                `json:"op"`
	Key    string            `json:"key"`
	ID     int               `json:"id"`
	Before *model.Department `json:"before,omitempty"` // shadow (last applied) for update/delete
	After  *model.Department `json:"after,omitempty"`  // desired; ParentID is resolved at apply time from ParentKey
	What   []string          `json:"what,omitempty"`   // for update: name, parent, order
	Adopt  bool              `json:"adopt,omitempty"`  // take over a pre-existing department (no create call)
	Reason string            `json:"reason"`
	Origin model.Origin      `json:"origin,omitempty"`
}

// UserChange is one member change. Before and After point into the plan's
// Input (the shadow member's Person, the desired person) rather than at
// copies, so a change is read-only: whoever needs another version copies it.
type UserChange struct {
	Op     Op            `json:"op"`
	UserID string        `json:"userid"`
	Key    string        `json:"key,omitempty"`
	Before *model.Person `json:"before,omitempty"` // shadow (last applied)
	After  *model.Person `json:"after,omitempty"`  // desired
	Fields []string      `json:"fields,omitempty"` // for update/move: the WeCom fields to send
	Adopt  bool          `json:"adopt,omitempty"`  // a pre-existing member taken over by an adopt rule
	Reason string        `json:"reason"`
	Origin model.Origin  `json:"origin,omitempty"`
}

// Held is a change the guard did not let through, with why.
type Held struct {
	Op     Op     `json:"op"`
	Object string `json:"object"`
	Reason string `json:"reason"`
}

// Notice is something an admin should know that is not a change: a member
// in WeCom that orgsync does not own, a department kept because it is not
// empty, a disabled person not created.
type Notice struct {
	Object string `json:"object"`
	Msg    string `json:"msg"`
}

// Changes is a plan: typed lists in apply order, JSON-serialisable so that
// `plan --out` and `sync --plan` apply exactly what was reviewed.
type Changes struct {
	DeptCreates  []DeptChange `json:"department_creates,omitempty"`
	DeptUpdates  []DeptChange `json:"department_updates,omitempty"`
	UserCreates  []UserChange `json:"user_creates,omitempty"`
	UserUpdates  []UserChange `json:"user_updates,omitempty"`
	UserMoves    []UserChange `json:"user_moves,omitempty"`
	UserEnables  []UserChange `json:"user_enables,omitempty"`
	UserDisables []UserChange `json:"user_disables,omitempty"`
	UserDeletes  []UserChange `json:"user_deletes,omitempty"`
	DeptDeletes  []DeptChange `json:"department_deletes,omitempty"`

	// Forget lists managed members (userids) and departments (keys) that
	// are gone from WeCom and should leave the shadow; no call is made.
	ForgetMembers []string `json:"forget_members,omitempty"`
	ForgetDepts   []string `json:"forget_departments,omitempty"`
	// RekeyDepts maps managed department keys to the new keys the source
	// gives the same departments (renamed or moved in a path-keyed
	// export): the shadow is re-keyed, the WeCom ids stay. No call.
	RekeyDepts map[string]string `json:"rekey_departments,omitempty"`

	Held    []Held   `json:"held,omitempty"`
	Notices []Notice `json:"notices,omitempty"`
	// Unowned counts members in the managed scope that orgsync neither
	// created nor adopted; they are never touched.
	Unowned int `json:"unowned"`
}

// Counts returns the number of changes of each op (zeros included), the
// shape of the run report's "changes" object.
func (c *Changes) Counts() map[Op]int {
	return map[Op]int{
		OpDeptCreate:  len(c.DeptCreates),
		OpDeptUpdate:  len(c.DeptUpdates),
		OpDeptDelete:  len(c.DeptDeletes),
		OpUserCreate:  len(c.UserCreates),
		OpUserUpdate:  len(c.UserUpdates),
		OpUserMove:    len(c.UserMoves),
		OpUserDisable: len(c.UserDisables),
		OpUserEnable:  len(c.UserEnables),
		OpUserDelete:  len(c.UserDeletes),
	}
}

// Total is the number of changes that make a WeCom write call.
func (c *Changes) Total() int {
	n := 0
	for _, v := range c.Counts() {
		n += v
	}
	return n
}

// Empty reports whether the plan makes no write call.
func (c *Changes) Empty() bool { return c.Total() == 0 }

// WriteJSON writes c as the JSON object json.Marshal makes of it, one change
// at a time, so that a plan of a million changes is never held as text: the
// same fields in the same order, omitempty as tagged, and every element
// encoded by encoding/json (HTML characters are not escaped; decoding gives
// the same Changes either way). With indent "" the output is compact;
// otherwise it is laid out as json.MarshalIndent(c, prefix, indent) would
// (the first line unprefixed, no final newline).
func (c *Changes) WriteJSON(w io.Writer, prefix, indent string) error {
	o := newJSONOut(w, prefix, indent)
	rv := reflect.ValueOf(c).Elem()
	for _, f := range changesFields() {
		v := rv.Field(f.index)
		if f.omitEmpty && isEmptyJSON(v) {
			continue
		}
		o.member(f)
		if !f.stream || v.IsNil() || v.Len() == 0 {
			if err := o.value(v.Interface(), 1); err != nil {
				return err
			}
			continue
		}
		for i := range v.Len() {
			if err := o.elem(i, v.Index(i).Interface()); err != nil {
				return err
			}
		}
		o.closeList()
	}
	return o.close()
}

// jsonOut writes the JSON object of a Changes member by member as
// WriteJSON lays it out. WriteJSON and DigestJSON both write through it, so
// a plan read back from a file is encoded byte for byte as the plan it was
// written from.
type jsonOut struct {
	w              *bufio.Writer
	buf            bytes.Buffer
	scratch        []byte // a member change's JSON (UserChange.appendJSON)
	enc            *json.Encoder
	prefix, indent string
	members        int
}

func newJSONOut(w io.Writer, prefix, indent string) *jsonOut {
	o := &jsonOut{w: bufio.NewWriterSize(w, 64<<10), prefix: prefix, indent: indent}
	o.enc = json.NewEncoder(&o.buf)
	o.enc.SetEscapeHTML(false)
	o.w.WriteByte('{')
	return o
}

// nl starts a new line at depth when indenting.
func (o *jsonOut) nl(depth int) {
	if o.indent != "" {
		o.w.WriteByte('\n')
		o.w.WriteString(o.prefix)
		for range depth {
			o.w.WriteString(o.indent)
		}
	}
}

// member writes the separator and the key of the next member.
func (o *jsonOut) member(f changesField) {
	if o.members > 0 {
		o.w.WriteByte(',')
	}
	o.members++
	o.nl(1)
	o.w.WriteString(f.key)
	if o.indent != "" {
		o.w.WriteByte(' ')
	}
}

// value writes v encoded by encoding/json at depth (its inner lines
// indented below it).
func (o *jsonOut) value(v any, depth int) error {
	if c, ok := v.(UserChange); ok && o.indent == "" {
		o.scratch = c.appendJSON(o.scratch[:0])
		o.w.Write(o.scratch)
		return nil
	}
	o.buf.Reset()
	if o.indent != "" {
		o.enc.SetIndent(o.prefix+strings.Repeat(o.indent, depth), o.indent)
	}
	if err := o.enc.Encode(v); err != nil {
		return err
	}
	o.w.Write(bytes.TrimSuffix(o.buf.Bytes(), []byte{'\n'}))
	return nil
}

// elem writes element i of the list member just begun, opening the list
// before element 0.
func (o *jsonOut) elem(i int, v any) error {
	if i == 0 {
		o.w.WriteByte('[')
	} else {
		o.w.WriteByte(',')
	}
	o.nl(2)
	return o.value(v, 2)
}

// closeList ends a list member of at least one element.
func (o *jsonOut) closeList() {
	o.nl(1)
	o.w.WriteByte(']')
}

// close ends the object and flushes it to the writer.
func (o *jsonOut) close() error {
	if o.members > 0 {
		o.nl(0)
	}
	o.w.WriteByte('}')
	return o.w.Flush()
}

// changesField is one field of Changes as encoding/json sees it.
type changesField struct {
	index     int
	name      string // the JSON member name: user_creates
	key       string // the quoted name and a colon: "user_creates":
	omitEmpty bool
	stream    bool // a slice written element by element
}

// changesFields reads Changes' json tags once, so that a field added to
// Changes is written by WriteJSON as by json.Marshal.
var changesFields = sync.OnceValue(func() []changesField {
	t := reflect.TypeFor[Changes]()
	var fs []changesField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		key, _ := json.Marshal(name)
		fs = append(fs, changesField{
			index:     i,
			name:      name,
			key:       string(key) + ":",
			omitEmpty: strings.Contains(","+opts+",", ",omitempty,"),
			stream:    sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() != reflect.Uint8,
		})
	}
	return fs
})

// isEmptyJSON is encoding/json's omitempty test.
func isEmptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}
