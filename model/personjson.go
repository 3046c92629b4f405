package model

import (
	"encoding/json"
	"unicode/utf8"
)

// personWire is a Person's JSON: the fields, tags and order Person had
// before its rarely set fields moved to PersonMore, so that the state's
// stored members, plan files and everything else read and written by
// encoding/json stay byte for byte the same.
type personWire struct {
	Key    string `json:"key"`
	UserID string `json:"userid"`
	Name   string `json:"name"`

	Alias     string `json:"alias,omitempty"`
	Position  string `json:"position,omitempty"`
	Mobile    string `json:"mobile,omitempty"`
	Email     string `json:"email,omitempty"`
	BizMail   string `json:"biz_mail,omitempty"`
	Telephone string `json:"telephone,omitempty"`
	Gender    Gender `json:"gender,omitempty"`

	Departments    []string `json:"departments,omitempty"`
	MainDepartment string   `json:"main_department,omitempty"`
	LeaderOf       []string `json:"leader_of,omitempty"`
	DirectLeaders  []string `json:"direct_leaders,omitempty"`

	Enabled  bool      `json:"enabled"`
	ExtAttrs []ExtAttr `json:"extattrs,omitempty"`

	Origin Origin `json:"origin"`
}

func (p *Person) wire() personWire {
	m := p.More()
	return personWire{
		Key: p.Key, UserID: p.UserID, Name: p.Name,
		Alias: m.Alias, Position: p.Position, Mobile: p.Mobile, Email: p.Email,
		BizMail: m.BizMail, Telephone: m.Telephone, Gender: p.Gender,
		Departments: p.Departments, MainDepartment: m.MainDepartment, LeaderOf: m.LeaderOf,
		DirectLeaders: p.DirectLeaders, Enabled: p.Enabled, ExtAttrs: m.ExtAttrs, Origin: p.Origin,
	}
}

func (w *personWire) person() Person {
	return Person{
		Key: w.Key, UserID: w.UserID, Name: w.Name,
		Position: w.Position, Mobile: w.Mobile, Email: w.Email, Gender: w.Gender,
		Departments: w.Departments, DirectLeaders: w.DirectLeaders,
		Enabled: w.Enabled, Origin: w.Origin,
	}.With(PersonMore{
		Alias: w.Alias, BizMail: w.BizMail, Telephone: w.Telephone,
		MainDepartment: w.MainDepartment, LeaderOf: w.LeaderOf, ExtAttrs: w.ExtAttrs,
	})
}

// MarshalJSON writes p as encoding/json writes its personWire, HTML
// characters unescaped (an encoder that escapes them does so on what this
// returns, as it would on the struct). A value receiver, so that a Person
// is encoded the same as a field, an element or behind a pointer. Written
// by hand: through reflection, every Person of a 100k-person plan was
// encoded twice (0.3 s).
func (p Person) MarshalJSON() ([]byte, error) {
	return p.AppendJSON(make([]byte, 0, 256)), nil
}

// AppendJSON appends p's JSON (see MarshalJSON) to b.
func (p *Person) AppendJSON(b []byte) []byte {
	m := p.m()
	b = append(b, `{"key":`...)
	b = AppendJSONString(b, p.Key)
	b = append(b, `,"userid":`...)
	b = AppendJSONString(b, p.UserID)
	b = append(b, `,"name":`...)
	b = AppendJSONString(b, p.Name)
	b = appendOptString(b, `,"alias":`, m.Alias)
	b = appendOptString(b, `,"position":`, p.Position)
	b = appendOptString(b, `,"mobile":`, p.Mobile)
	b = appendOptString(b, `,"email":`, p.Email)
	b = appendOptString(b, `,"biz_mail":`, m.BizMail)
	b = appendOptString(b, `,"telephone":`, m.Telephone)
	b = appendOptString(b, `,"gender":`, string(p.Gender))
	b = appendOptStrings(b, `,"departments":`, p.Departments)
	b = appendOptString(b, `,"main_department":`, m.MainDepartment)
	b = appendOptStrings(b, `,"leader_of":`, m.LeaderOf)
	b = appendOptStrings(b, `,"direct_leaders":`, p.DirectLeaders)
	if p.Enabled {
		b = append(b, `,"enabled":true`...)
	} else {
		b = append(b, `,"enabled":false`...)
	}
	if len(m.ExtAttrs) > 0 {
		b = append(b, `,"extattrs":[`...)
		for i, a := range m.ExtAttrs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = AppendJSONString(b, a.Name)
			b = append(b, `,"value":`...)
			b = AppendJSONString(b, a.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"origin":`...)
	return append(p.Origin.AppendJSON(b), '}')
}

// AppendJSON appends o as encoding/json writes it (see AppendJSONString).
func (o Origin) AppendJSON(b []byte) []byte {
	b = append(b, `{"Source":`...)
	b = AppendJSONString(b, o.Source)
	b = append(b, `,"Locator":`...)
	b = AppendJSONString(b, o.Locator)
	return append(b, '}')
}

// plainJSON: s needs no escape (the common case: names, keys, paths).
func plainJSON(s string) bool {
	high := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == '"' || c == '\\':
			return false
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9): // U+2028, U+2029
			return false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return !high || utf8.ValidString(s)
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return AppendJSONString(append(b, key...), s)
}

func appendOptStrings(b []byte, key string, l []string) []byte {
	if len(l) == 0 {
		return b
	}
	return AppendJSONStrings(append(b, key...), l)
}

// AppendJSONStrings appends l as a JSON array of strings (see
// AppendJSONString).
func AppendJSONStrings(b []byte, l []string) []byte {
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, s)
	}
	return append(b, ']')
}

// AppendJSONString appends s quoted as encoding/json quotes a string with
// HTML escaping off (SetEscapeHTML(false)): \" and \\ escaped, \b \f \n \r
// \t, other control characters as \u00XX, invalid UTF-8 as \ufffd, and
// U+2028 and U+2029 escaped. For hand-written encoders that must match
// encoding/json byte for byte (Person, plan changes).
func AppendJSONString(b []byte, s string) []byte {
	if plainJSON(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// UnmarshalJSON reads a personWire into p, over what p holds, as
// encoding/json does into a struct.
func (p *Person) UnmarshalJSON(data []byte) error {
	w := p.wire()
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*p = w.person()
	return nil
}

// Interner hands out one copy of each distinct string, so that values many
// people share (department keys, positions, leaders' userids, the source
// name) are held once rather than once per person. Not safe for concurrent
// use; the zero value is ready.
type Interner struct{ m map[string]string }

// bytes returns b as a string, the one copy of its value.
func (in *Interner) bytes(b []byte) string {
	if s, ok := in.m[string(b)]; ok { // no allocation for the lookup
		return s
	}
	if in.m == nil {
		in.m = map[string]string{}
	}
	s := string(b)
	in.m[s] = s
	return s
}

// UnmarshalPerson decodes data, the JSON encoding/json writes for a Person,
// into *p, exactly as json.Unmarshal(data, p) would into a zero Person: the
// same values, and an error where it has one. The form json.Marshal writes
// (known keys spelled as tagged, strings without escapes, valid UTF-8) is
// read directly, about five times faster than through reflection; anything
// else (an escape, null, an unknown or differently cased key, a number) is
// handed to json.Unmarshal. With in set, the values people share are
// interned (see Interner).
func UnmarshalPerson(data []byte, p *Person, in *Interner) error {
	if in == nil {
		in = &Interner{}
	}
	d := personDecoder{data: data, in: in}
	var m PersonMore
	if d.person(p, &m) && d.end() {
		p.SetMore(m)
		return nil
	}
	*p = Person{}
	return json.Unmarshal(data, p)
}

// personDecoder reads the common form of a Person's JSON; each method
// reports false for anything outside it, and the caller falls back.
type personDecoder struct {
	data []byte
	i    int
	in   *Interner
}

func (d *personDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// byte consumes c, after white space.
func (d *personDecoder) byte(c byte) bool {
	d.space()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *personDecoder) end() bool {
	d.space()
	return d.i == len(d.data)
}

// raw returns the bytes of a string without escapes or control characters
// and valid in UTF-8 (json.Unmarshal would change invalid bytes to U+FFFD).
func (d *personDecoder) raw() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start, high := d.i, false
	for ; d.i < len(d.data); d.i++ {
		switch c := d.data[d.i]; {
		case c == '"':
			b := d.data[start:d.i]
			d.i++
			return b, !high || utf8.Valid(b)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			high = true
		}
	}
	return nil, false
}

func (d *personDecoder) str(s *string, intern bool) bool {
	b, ok := d.raw()
	switch {
	case !ok:
		return false
	case intern:
		*s = d.in.bytes(b)
	case len(b) > 0:
		*s = string(b)
	default:
		*s = ""
	}
	return true
}

// strings reads a non-empty array of strings (json.Marshal omits the empty
// ones; [] and null are left to json.Unmarshal).
func (d *personDecoder) strings(out *[]string, intern bool) bool {
	if !d.byte('[') {
		return false
	}
	var l []string
	for {
		var s string
		if !d.str(&s, intern) {
			return false
		}
		l = append(l, s)
		if d.byte(']') {
			*out = l
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

func (d *personDecoder) bool(b *bool) bool {
	d.space()
	switch rest := d.data[d.i:]; {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		*b, d.i = true, d.i+4
	case len(rest) >= 5 && string(rest[:5]) == "false":
		*b, d.i = false, d.i+5
	default:
		return false
	}
	return true
}

// object reads {"k":v,...}, calling field for each key; an empty object
// is fine (every field zero).
func (d *personDecoder) object(field func(key []byte) bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.byte('}') {
		return true
	}
	for {
		k, ok := d.raw()
		if !ok || !d.byte(':') || !field(k) {
			return false
		}
		if d.byte('}') {
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

// personFields are the keys json.Marshal writes for a Person, in order.
var personFields = [...]string{"key", "userid", "name", "alias", "position", "mobile", "email", "biz_mail", "telephone",
	"gender", "departments", "main_department", "leader_of", "direct_leaders", "enabled", "extattrs", "origin"}

// person reads a Person's fields. A key that comes twice is left to
// json.Unmarshal, which merges a second origin or extattrs into the first.
func (d *personDecoder) person(p *Person, m *PersonMore) bool {
	var seen uint32
	return d.object(func(k []byte) bool {
		f := -1
		for i, name := range personFields {
			if string(k) == name {
				f = i
				break
			}
		}
		if f < 0 || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		switch personFields[f] {
		case "key":
			return d.str(&p.Key, false)
		case "userid":
			return d.str(&p.UserID, false)
		case "name":
			return d.str(&p.Name, false)
		case "alias":
			return d.str(&m.Alias, false)
		case "position":
			return d.str(&p.Position, true)
		case "mobile":
			return d.str(&p.Mobile, false)
		case "email":
			return d.str(&p.Email, false)
		case "biz_mail":
			return d.str(&m.BizMail, false)
		case "telephone":
			return d.str(&m.Telephone, false)
		case "gender":
			var g string
			ok := d.str(&g, true)
			p.Gender = Gender(g)
			return ok
		case "departments":
			return d.strings(&p.Departments, true)
		case "main_department":
			return d.str(&m.MainDepartment, true)
		case "leader_of":
			return d.strings(&m.LeaderOf, true)
		case "direct_leaders":
			return d.strings(&p.DirectLeaders, true)
		case "enabled":
			return d.bool(&p.Enabled)
		case "extattrs":
			return d.extAttrs(&m.ExtAttrs)
		default: // origin
			return d.object(func(k []byte) bool {
				switch string(k) {
				case "Source":
					return d.str(&p.Origin.Source, true)
				case "Locator":
					return d.str(&p.Origin.Locator, false)
				}
				return false
			})
		}
	})
}

func (d *personDecoder) extAttrs(out *[]ExtAttr) bool {
	if !d.byte('[') {
		return false
	}
	var l []ExtAttr
	for {
		var a ExtAttr
		if !d.object(func(k []byte) bool {
			switch string(k) {
			case "name":
				return d.str(&a.Name, true)
			case "value":
				return d.str(&a.Value, true)
			}
			return false
		}) {
			return false
		}
		l = append(l, a)
		if d.byte(']') {
			*out = l
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}
