package httpjson

import (
	"fmt"
	"strconv"
	"strings"
)

// A path addresses a value in a decoded JSON answer: keys separated by
// dots ("data.items"), array indexes as a number ("items.0" or "items[0]").
// A key that itself holds dots or other punctuation is found as it is
// ("@odata.nextLink", "d.__next"): at each object the longest run of the
// remaining dotted parts that is a key of that object wins, so no escaping
// is needed. For explicitness a key may also be written ["@odata.nextLink"]
// (or with single quotes), and "\." escapes one dot. The empty path is the
// answer itself.
//
// This small walker, rather than a library such as gjson, because the paths
// are looked up in values that are decoded anyway (records must become Go
// values), and gjson's syntax gives "@" and "#" meanings of their own, so the
// OData key "@odata.nextLink" would need escaping there.
type path struct {
	raw  string
	segs []pathSeg
}

type pathSeg struct {
	key     string
	bracket bool // ["key"] or [n]: never joined with its neighbours
	index   int  // -1 unless the segment can be an array index
}

func (p path) String() string { return p.raw }

// IsZero reports whether the path is empty (the answer itself).
func (p path) IsZero() bool { return len(p.segs) == 0 }

// parsePath parses a path; its errors name the offending character.
func parsePath(s string) (path, error) {
	p := path{raw: s}
	if s == "" {
		return p, nil
	}
	var cur strings.Builder
	plain := false // cur holds a plain segment being read
	flush := func() {
		k := cur.String()
		p.segs = append(p.segs, pathSeg{key: k, index: indexOf(k)})
		cur.Reset()
		plain = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return path{}, fmt.Errorf("path %q ends with a lone \\", s)
			}
			i++
			cur.WriteByte(s[i])
			plain = true
		case c == '.':
			if !plain {
				if i == 0 || s[i-1] == '.' {
					return path{}, fmt.Errorf("path %q has an empty key at offset %d", s, i)
				}
				if i == len(s)-1 {
					return path{}, fmt.Errorf("path %q ends with a dot", s)
				}
				continue // after a bracket
			}
			if i == len(s)-1 {
				return path{}, fmt.Errorf("path %q ends with a dot", s)
			}
			flush()
		case c == '[':
			if plain {
				flush()
			}
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return path{}, fmt.Errorf("path %q has an unclosed [ at offset %d", s, i)
			}
			inner := s[i+1 : i+end]
			// A quoted key may hold a ']': find the closing quote first.
			if len(inner) > 0 && (inner[0] == '"' || inner[0] == '\'') {
				q := inner[0]
				close := strings.IndexByte(s[i+2:], q)
				if close < 0 || i+2+close+1 >= len(s) || s[i+2+close+1] != ']' {
					return path{}, fmt.Errorf("path %q has an unterminated quoted key at offset %d", s, i)
				}
				key := s[i+2 : i+2+close]
				p.segs = append(p.segs, pathSeg{key: key, bracket: true, index: -1})
				i = i + 2 + close + 1
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return path{}, fmt.Errorf(`path %q: [%s] is neither an index nor a quoted key (["key"])`, s, inner)
				}
				p.segs = append(p.segs, pathSeg{key: inner, bracket: true, index: n})
				i += end
			}
			if i+1 < len(s) && s[i+1] != '.' && s[i+1] != '[' {
				return path{}, fmt.Errorf("path %q: expected . or [ after ] at offset %d", s, i+1)
			}
		default:
			cur.WriteByte(c)
			plain = true
		}
	}
	if plain {
		flush()
	}
	return p, nil
}

func indexOf(k string) int {
	if k == "" || len(k) > 9 {
		return -1
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '0' || k[i] > '9' {
			return -1
		}
	}
	n, _ := strconv.Atoi(k)
	return n
}

// lookup returns the value at p in v, and whether it is there (a JSON null
// is there, as nil).
func (p path) lookup(v any) (any, bool) {
	segs := p.segs
	for len(segs) > 0 {
		switch x := v.(type) {
		case map[string]any:
			if segs[0].bracket {
				if segs[0].index >= 0 {
					return nil, false
				}
				val, ok := x[segs[0].key]
				if !ok {
					return nil, false
				}
				v, segs = val, segs[1:]
				continue
			}
			run := 1
			for run < len(segs) && !segs[run].bracket {
				run++
			}
			found := false
			for k := run; k >= 1; k-- {
				key := segs[0].key
				if k > 1 {
					parts := make([]string, k)
					for j := range parts {
						parts[j] = segs[j].key
					}
					key = strings.Join(parts, ".")
				}
				if val, ok := x[key]; ok {
					v, segs, found = val, segs[k:], true
					break
				}
			}
			if !found {
				return nil, false
			}
		case []any:
			i := segs[0].index
			if i < 0 || i >= len(x) {
				return nil, false
			}
			v, segs = x[i], segs[1:]
		default:
			return nil, false
		}
	}
	return v, true
}
