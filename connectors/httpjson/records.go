package httpjson

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/model"
)

// batchBuilder collects the records of all pages. A record's values are
// made what mapping expects at any depth: a JSON string, number or boolean
// becomes a Go string (numbers as their JSON text, so "00123" and 123 stay
// apart and 10000001 is not 1.0000001e+07; booleans "true"/"false"), an
// object map[string]any, an array []any, null nil. The field names of the
// batch are the union of the records' top-level keys, sorted; a record
// lacking one has nil there.
type batchBuilder struct {
	objs    []map[string]any
	origins []string
	names   map[string]bool
	count   int
}

// addPage adds a page's records, located at where#page.index (both
// 1-based), and returns the page's fingerprint, which tells a repeated page.
func (b *batchBuilder) addPage(recs []any, where string, page int) (uint64, error) {
	if b.names == nil {
		b.names = map[string]bool{}
	}
	prefix := where + "#" + strconv.Itoa(page) + "."
	h := uint64(fnvOffset)
	for i, r := range recs {
		m, ok := r.(map[string]any)
		if !ok {
			return 0, fmt.Errorf("%w: record %d is %s, not an object", ErrAnswer, i+1, kindOf(r))
		}
		h = mix(h, normalizeMap(m))
		for k := range m {
			if !b.names[k] {
				b.names[k] = true
			}
		}
		b.objs = append(b.objs, m)
		b.origins = append(b.origins, prefix+strconv.Itoa(i+1))
	}
	b.count += len(recs)
	return h, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

func (b *batchBuilder) batch(source, location string) *connectors.Batch {
	names := make([]string, 0, len(b.names))
	for n := range b.names {
		names = append(names, n)
	}
	sort.Strings(names)
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	vals := make([]any, len(b.objs)*len(names))
	recs := make([]connectors.Record, len(b.objs))
	for i, m := range b.objs {
		v := vals[i*len(names) : (i+1)*len(names) : (i+1)*len(names)]
		for k, x := range m {
			v[idx[k]] = x
		}
		recs[i] = connectors.Record{
			Origin: model.Origin{Source: source, Locator: b.origins[i]},
			Names:  names,
			Values: v,
		}
	}
	return &connectors.Batch{
		Source: source, Records: recs, Complete: true, Location: location, Columns: names,
	}
}

// The fingerprint is FNV-1a over strings, combined order-independently
// within an object (a map has no order) and in order within an array.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(tag byte, s string) uint64 {
	h := uint64(fnvOffset)
	h ^= uint64(tag)
	h *= fnvPrime
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func mix(h, v uint64) uint64 {
	h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
	return h
}

// normalizeMap converts m's values in place and returns its fingerprint.
func normalizeMap(m map[string]any) uint64 {
	var sum uint64
	for k, v := range m {
		nv, h := normalize(v)
		m[k] = nv
		sum += mix(hashString('k', k), h)
	}
	return mix(hashString('{', ""), sum)
}

func normalize(v any) (any, uint64) {
	switch x := v.(type) {
	case string:
		return x, hashString('s', x)
	case json.Number:
		return string(x), hashString('n', string(x))
	case bool:
		if x {
			return "true", hashString('b', "true")
		}
		return "false", hashString('b', "false")
	case map[string]any:
		return x, normalizeMap(x)
	case []any:
		h := hashString('[', "")
		for i, e := range x {
			nv, eh := normalize(e)
			x[i] = nv
			h = mix(h, eh)
		}
		return x, h
	}
	return nil, hashString('0', "")
}
