package model

import (
	"encoding/json"
	"unicode/utf8"
)

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
	if d.person(p) && d.end() {
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
func (d *personDecoder) person(p *Person) bool {
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
			return d.str(&p.Alias, false)
		case "position":
			return d.str(&p.Position, true)
		case "mobile":
			return d.str(&p.Mobile, false)
		case "email":
			return d.str(&p.Email, false)
		case "biz_mail":
			return d.str(&p.BizMail, false)
		case "telephone":
			return d.str(&p.Telephone, false)
		case "gender":
			var g string
			ok := d.str(&g, true)
			p.Gender = Gender(g)
			return ok
		case "departments":
			return d.strings(&p.Departments, true)
		case "main_department":
			return d.str(&p.MainDepartment, true)
		case "leader_of":
			return d.strings(&p.LeaderOf, true)
		case "direct_leaders":
			return d.strings(&p.DirectLeaders, true)
		case "enabled":
			return d.bool(&p.Enabled)
		case "extattrs":
			return d.extAttrs(&p.ExtAttrs)
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
