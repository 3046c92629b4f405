package httpjson

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strconv"
	"strings"

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
//
// Each page's objects are turned into value rows at once (names indexed in
// the order first seen) and dropped, so that the read holds rows, not a
// map per person; batch lays the rows out in sorted name order at the end.
type batchBuilder struct {
	rows    [][]any
	origins []string
	index   map[string]int
	order   []string // names in the order first seen
	count   int
}

// addPage adds a page's records, located at where#page.index (both
// 1-based), and returns the page's fingerprint, which tells a repeated page.
func (b *batchBuilder) addPage(recs []any, where string, page int) (uint64, error) {
	if b.index == nil {
		b.index = map[string]int{}
	}
	// The page's locators are substrings of one string: one allocation
	// per page, not one per record.
	var loc strings.Builder
	prefix := where + "#" + strconv.Itoa(page) + "."
	loc.Grow(len(recs) * (len(prefix) + 4))
	ends := make([]int, len(recs))
	for i := range recs {
		loc.WriteString(prefix)
		loc.WriteString(strconv.Itoa(i + 1))
		ends[i] = loc.Len()
	}
	locs := loc.String()
	width := len(b.order)
	slab := make([]any, len(recs)*width)
	h := uint64(fnvOffset)
	for i, r := range recs {
		m, ok := r.(map[string]any)
		if !ok {
			return 0, fmt.Errorf("%w: record %d is %s, not an object", ErrAnswer, i+1, kindOf(r))
		}
		row := slab[i*width : (i+1)*width : (i+1)*width]
		// The fingerprint covers the first and the last record whole: a
		// page that repeats both is a repeated page (or the read holds
		// duplicates, which is as wrong).
		hashed := i == 0 || i == len(recs)-1
		var sum uint64
		for k, v := range m {
			j, ok := b.index[k]
			if !ok {
				j = len(b.order)
				b.index[k] = j
				b.order = append(b.order, k)
			}
			for j >= len(row) {
				row = append(row, nil)
			}
			if hashed {
				nv, vh := normalize(v)
				row[j] = nv
				sum += mix(hashString('k', k), vh)
			} else {
				row[j] = normalized(v)
			}
		}
		if hashed {
			h = mix(h, mix(hashString('{', ""), sum))
		}
		b.rows = append(b.rows, row)
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		b.origins = append(b.origins, locs[start:ends[i]])
	}
	b.count += len(recs)
	return mix(h, uint64(len(recs))), nil
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
	names := slices.Clone(b.order)
	sort.Strings(names)
	pos := make([]int, len(b.order)) // first-seen index → sorted index
	inOrder := true
	for i, n := range b.order {
		pos[i], _ = slices.BinarySearch(names, n)
		inOrder = inOrder && pos[i] == i
	}
	w := len(names)
	var slab []any
	recs := make([]connectors.Record, len(b.rows))
	for i, row := range b.rows {
		if !inOrder || len(row) != w {
			if slab == nil {
				slab = make([]any, len(b.rows)*w)
			}
			out := slab[i*w : (i+1)*w : (i+1)*w]
			for j, v := range row {
				out[pos[j]] = v
			}
			row = out
		}
		recs[i] = connectors.Record{
			Origin: model.Origin{Source: source, Locator: b.origins[i]},
			Names:  names,
			Values: row,
		}
	}
	return &connectors.Batch{
		// No Columns: JSON records have no fixed header (an optional key
		// leaves with the last record holding it), so a key gone is no
		// sign of a re-headed source.
		Source: source, Records: recs, Complete: true, Location: location,
	}
}

// The fingerprint hashes strings (maphash), combined order-independently
// within an object (a map has no order) and in order within an array.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(tag byte, s string) uint64 {
	return maphash.String(hashSeed, s) ^ uint64(tag)*fnvPrime
}

// hashSeed is per process: fingerprints are compared within one read only.
var hashSeed = maphash.MakeSeed()

func mix(h, v uint64) uint64 {
	h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
	return h
}

// normalizeMap converts m's values in place and returns its fingerprint.
func normalizeMap(m map[string]any) uint64 {
	var sum uint64
	for k, v := range m {
		nv, h := normalize(v)
		switch v.(type) {
		case json.Number, bool: // the only values normalize changes
			m[k] = nv
		}
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

// normalized is normalize without the fingerprint.
func normalized(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case json.Number, bool, map[string]any, []any:
				x[k] = normalized(e)
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalized(e)
		}
		return x
	}
	return nil
}
