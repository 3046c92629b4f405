package client

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// UnmarshalJSON decodes a user/list_id page exactly as encoding/json decodes
// it into the plain struct, several times faster for the shape WeCom sends:
// a run reads every member this way (100 pages of 10,000 rows at 1M), and
// reflection was most of orgsync's side of that read. Anything the fast
// path does not expect (escapes, other keys in a row, a key that matches
// only case-insensitively, a null, a number that is not a plain integer,
// invalid UTF-8, a repeated key) goes to encoding/json, so the result and
// its errors are always encoding/json's.
func (p *ListIDPage) UnmarshalJSON(b []byte) error {
	var fast ListIDPage
	if decodeListIDPage(b, &fast) {
		*p = fast
		return nil
	}
	type plain ListIDPage // no UnmarshalJSON method: encoding/json's own decode
	var q plain
	if err := json.Unmarshal(b, &q); err != nil {
		return err
	}
	*p = ListIDPage(q)
	return nil
}

// listIDScanner reads the JSON of one page; every method returns false on
// anything outside the fast path.
type listIDScanner struct {
	b []byte
	i int
}

func decodeListIDPage(b []byte, p *ListIDPage) bool {
	s := &listIDScanner{b: b}
	if !s.byte('{') {
		return false
	}
	var sawCursor, sawRows bool
	if s.peek() == '}' {
		s.i++
		return s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		switch key {
		case "next_cursor":
			if sawCursor || s.peek() != '"' {
				return false
			}
			if p.NextCursor, ok = s.str(); !ok {
				return false
			}
			sawCursor = true
		case "dept_user":
			if sawRows || !s.rows(p) {
				return false
			}
			sawRows = true
		default:
			if strings.EqualFold(key, "next_cursor") || strings.EqualFold(key, "dept_user") || !s.skip(0) {
				return false
			}
		}
		switch s.next() {
		case ',':
		case '}':
			return s.end()
		default:
			return false
		}
	}
}

// rows reads the dept_user array: objects of exactly "userid" (a string)
// and "department" (an integer).
func (s *listIDScanner) rows(p *ListIDPage) bool {
	if !s.byte('[') {
		return false
	}
	if s.peek() == ']' {
		s.i++
		p.DeptUser = []DeptUser{}
		return true
	}
	// Rows are about 40 bytes each: one allocation of about the right size.
	out := make([]DeptUser, 0, (len(s.b)-s.i)/40+1)
	for {
		if !s.byte('{') {
			return false
		}
		var r DeptUser
		var sawID, sawDept bool
		for {
			key, ok := s.str()
			if !ok || !s.byte(':') {
				return false
			}
			switch {
			case key == "userid" && !sawID && s.peek() == '"':
				if r.UserID, ok = s.str(); !ok {
					return false
				}
				sawID = true
			case key == "department" && !sawDept:
				if r.Department, ok = s.int(); !ok {
					return false
				}
				sawDept = true
			default:
				return false
			}
			if c := s.next(); c == '}' {
				break
			} else if c != ',' {
				return false
			}
		}
		out = append(out, r)
		switch s.next() {
		case ',':
		case ']':
			p.DeptUser = out
			return true
		default:
			return false
		}
	}
}

func (s *listIDScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *listIDScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *listIDScanner) next() byte {
	c := s.peek()
	if c != 0 {
		s.i++
	}
	return c
}

func (s *listIDScanner) byte(c byte) bool { return s.next() == c }

func (s *listIDScanner) end() bool { s.ws(); return s.i == len(s.b) }

// str reads a string with no escapes and valid UTF-8.
func (s *listIDScanner) str() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !utf8.Valid(v) {
				return "", false
			}
			return string(v), true
		case c == '\\' || c < 0x20:
			return "", false
		}
		s.i++
	}
	return "", false
}

// int reads a plain integer of at most 18 digits (no fraction, exponent or
// leading zero).
func (s *listIDScanner) int() (int, bool) {
	s.ws()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start, n := s.i, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 18 || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// skip passes over one value of a key the page does not use (errcode,
// errmsg): scalars, and objects or arrays up to a small depth. Whether the
// body is valid JSON at all was checked before (the envelope's decode);
// here anything unusual simply leaves the fast path.
func (s *listIDScanner) skip(depth int) bool {
	if depth > 8 {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		s.i++
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '\\':
				s.i += 2
				continue
			case '"':
				s.i++
				return true
			}
			s.i++
		}
		return false
	case c == '{' || c == '[':
		s.i++
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		if s.peek() == closer {
			s.i++
			return true
		}
		for {
			if c == '{' {
				if _, ok := s.str(); !ok || !s.byte(':') {
					return false
				}
			}
			if !s.skip(depth + 1) {
				return false
			}
			switch s.next() {
			case ',':
			case closer:
				return true
			default:
				return false
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		for s.i < len(s.b) && strings.IndexByte("+-.eE0123456789", s.b[s.i]) >= 0 {
			s.i++
		}
		return true
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return true
			}
		}
		return false
	}
}
