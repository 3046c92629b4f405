package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Department is a department as department/list and department/get return
// it, and as State reports it.
type Department struct {
	ID               int64    `json:"id"`
	Name             string   `json:"name"`
	NameEn           string   `json:"name_en,omitempty"`
	DepartmentLeader []string `json:"department_leader"`
	ParentID         int64    `json:"parentid"`
	Order            uint32   `json:"order"`
}

// User is a member as user/get returns it, and as State reports it. Slices
// are never nil, so they encode as [] like the real server's.
type User struct {
	UserID           string          `json:"userid"`
	Name             string          `json:"name"`
	Department       []int64         `json:"department"`
	Order            []uint32        `json:"order"`
	Position         string          `json:"position"`
	Mobile           string          `json:"mobile"`
	Gender           string          `json:"gender"`
	Email            string          `json:"email"`
	BizMail          string          `json:"biz_mail"`
	IsLeaderInDept   []int           `json:"is_leader_in_dept"`
	DirectLeader     []string        `json:"direct_leader"`
	Avatar           string          `json:"avatar"`
	ThumbAvatar      string          `json:"thumb_avatar"`
	Telephone        string          `json:"telephone"`
	Alias            string          `json:"alias"`
	Address          string          `json:"address"`
	MainDepartment   int64           `json:"main_department"`
	Status           int             `json:"status"`
	Enable           int             `json:"enable"`
	QRCode           string          `json:"qr_code"`
	ExternalPosition string          `json:"external_position"`
	Nickname         string          `json:"nickname,omitempty"`
	ExtAttr          json.RawMessage `json:"extattr,omitempty"`
	ExternalProfile  json.RawMessage `json:"external_profile,omitempty"`
}

// Snapshot is the whole directory: departments sorted by id, users sorted
// by lower-cased userid.
type Snapshot struct {
	Departments []Department `json:"departments"`
	Users       []User       `json:"users"`
}

// Member status values (user/get "status").
const (
	StatusActive      = 1
	StatusDisabled    = 2
	StatusNotActive   = 4
	StatusLeftCompany = 5
)

// field is one key of an ordered JSON object.
type field struct {
	k string
	v any
}

// obj is a JSON object that keeps its key order, so responses read like the
// real server's ({"errcode":0,"errmsg":"ok",...}). A field with an empty key
// must hold a value that encodes as an object; its fields are inlined.
type obj []field

func (o obj) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	for _, f := range o {
		v, err := marshalRaw(f.v)
		if err != nil {
			return nil, err
		}
		if f.k == "" {
			// Inline: splice an object's fields (user/get's member fields).
			v = bytes.TrimSpace(v)
			v = bytes.TrimSpace(v[1 : len(v)-1])
			if len(v) == 0 {
				continue
			}
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		if f.k != "" {
			k, _ := json.Marshal(f.k)
			buf.Write(k)
			buf.WriteByte(':')
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalRaw encodes v without HTML escaping (the server sends raw UTF-8 and
// plain <, >, &).
func marshalRaw(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// body is a decoded JSON request body. Decoding into raw values keeps
// "absent" apart from "empty", which partial updates depend on, and lets each
// field report its own errcode when its type is wrong, as the lenient real
// server does.
type body map[string]json.RawMessage

// parseBody decodes a JSON object; an empty body (GET on a POST API) is an
// empty object, so the handlers report the missing fields.
func parseBody(b []byte) (body, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return body{}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return body(m), nil
}

// has reports whether k is present and not null.
func (b body) has(k string) bool {
	v, ok := b[k]
	return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// str reads a string; a number is accepted as its text (the server is
// lenient about scalar types).
func (b body) str(k string) (val string, present bool, ok bool) {
	if !b.has(k) {
		return "", false, true
	}
	return rawString(b[k])
}

func rawString(raw json.RawMessage) (string, bool, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true, true
	}
	return "", true, false
}

// int reads an integer given as a JSON number or a numeric string.
func (b body) int(k string) (val int64, present bool, ok bool) {
	if !b.has(k) {
		return 0, false, true
	}
	v, ok := rawInt(b[k])
	return v, true, ok
}

func rawInt(raw json.RawMessage) (int64, bool) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		v, err := strconv.ParseInt(n.String(), 10, 64)
		return v, err == nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return v, err == nil
	}
	return 0, false
}

// ints reads an array of integers. A string holding a JSON array (a common
// client bug) is a type error, as on the real server.
func (b body) ints(k string) (val []int64, present bool, ok bool) {
	if !b.has(k) {
		return nil, false, true
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b[k], &raws); err != nil {
		return nil, true, false
	}
	out := make([]int64, 0, len(raws))
	for _, r := range raws {
		v, ok := rawInt(r)
		if !ok {
			return nil, true, false
		}
		out = append(out, v)
	}
	return out, true, true
}

// strs reads an array of strings.
func (b body) strs(k string) (val []string, present bool, ok bool) {
	if !b.has(k) {
		return nil, false, true
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b[k], &raws); err != nil {
		return nil, true, false
	}
	out := make([]string, 0, len(raws))
	for _, r := range raws {
		s, _, ok := rawString(r)
		if !ok {
			return nil, true, false
		}
		out = append(out, s)
	}
	return out, true, true
}

// hasUnicodeEscape reports whether a JSON text contains a \uXXXX escape
// (the 40033 rule). A backslash only occurs inside strings, so a scan that
// skips escaped characters is enough.
func hasUnicodeEscape(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			if b[i+1] == 'u' {
				return true
			}
			i++
		}
	}
	return false
}

// apiErr is a WeCom business error: HTTP 200 with this errcode.
type apiErr struct {
	code int
	msg  string // overrides the default message for the code
}

func (e *apiErr) Error() string { return fmt.Sprintf("errcode %d: %s", e.code, e.message()) }

func (e *apiErr) message() string {
	if e.msg != "" {
		return e.msg
	}
	if m, ok := errMessages[e.code]; ok {
		return m
	}
	return "unknown error"
}

func errf(code int, format string, args ...any) *apiErr {
	return &apiErr{code: code, msg: fmt.Sprintf(format, args...)}
}

func errc(code int) *apiErr { return &apiErr{code: code} }

// errMessages are the short English phrases the real server puts before the
// ", hint: [...]" suffix.
var errMessages = map[int]string{
	-1:     "system busy",
	6000:   "data version conflict",
	40001:  "invalid credential",
	40003:  "invalid userid",
	40004:  "invalid media type",
	40005:  "invalid file type",
	40006:  "invalid file size",
	40007:  "invalid media_id",
	40013:  "invalid corpid",
	40014:  "invalid access_token",
	40031:  "invalid userid list",
	40032:  "invalid userid list size, max 200",
	40033:  "invalid charset. please check your request, if include \\uxxxx will create fail!",
	40058:  "invalid parameter",
	40066:  "invalid party list",
	40088:  "invalid jobid",
	40089:  "job result has been cleaned up",
	40092:  "invalid import file content",
	40206:  "request body too large",
	41001:  "access_token missing",
	41002:  "corpid missing",
	41004:  "corpsecret missing",
	41006:  "media_id missing",
	42001:  "access_token expired",
	44001:  "empty media data",
	45001:  "media size out of limit",
	45009:  "api freq out of limit",
	45024:  "account number exceeds limit",
	45026:  "trigger delete user protection",
	45033:  "api concurrent out of limit",
	46004:  "user no exist",
	48002:  "api forbidden",
	48009:  "api forbidden for contact assistant",
	50100:  "invalid cursor",
	60001:  "department name length invalid",
	60003:  "department not found",
	60004:  "parent department not found",
	60005:  "department contains user",
	60006:  "department contains sub-department",
	60007:  "not allow to delete root department",
	60008:  "department existed",
	60009:  "department name include invalid char",
	60010:  "department exists circle",
	60011:  "no privilege to access/modify contact/party/agent",
	60020:  "not allow to access from your ip",
	60102:  "userid existed",
	60103:  "mobile invalid",
	60104:  "mobile existed",
	60105:  "email invalid",
	60106:  "email existed",
	60110:  "user department count exceeds limit",
	60111:  "userid not found",
	60112:  "invalid name",
	60123:  "invalid party id",
	60127:  "department missing",
	60129:  "missing mobile and email",
	60132:  "is_leader_in_dept size not match department size",
	60143:  "invalid biz_mail",
	60145:  "biz_mail existed",
	81001:  "department node count exceeds limit",
	81002:  "department level exceeds limit",
	301005: "not allow to delete creator",
	301012: "invalid position",
	301013: "invalid telephone",
	301015: "invalid avatar mediaid",
	301036: "userid can not be changed",
	302003: "duplicate userid in import file",
	302004: "invalid party structure in import file",
	302006: "duplicate partyid in import file",
	302007: "duplicate party name under the same parent in import file",
	302008: "another batch job is running",
}
