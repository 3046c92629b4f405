// Package connectors defines what a source of people is (Source), the raw
// records it yields (Record, Batch) and the contract every implementation
// keeps. Implementations live in sub-packages (csv, ldap, httpjson); the
// explicit type-name registry is in connectors/registry, and the shared
// conformance suite every implementation runs is connectors/conformance.
package connectors

import (
	"context"
	"errors"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
)

// Source reads every record of one configured source.
//
// Contract: List returns either an error, or a Batch holding every record the
// source has, each with its Origin. A source that could not read everything
// (a page failed, a file is truncated, a trailer count does not match) returns
// an error or a Batch with Complete=false and a reason; it never silently
// returns fewer records. Downstream, an error or an incomplete batch holds
// every disable and delete of that run.
type Source interface {
	List(ctx context.Context) (*Batch, error)
}

// Local is implemented by sources that read files on this machine (CSV,
// XLSX), which `validate --offline` may read to check the rules against
// real records without contacting any server.
type Local interface {
	Local() bool
}

// Batch is the result of one read.
type Batch struct {
	Source     string // configured source name
	Records    []Record
	Complete   bool // false: not everything could be read; Incomplete says why
	Incomplete string
	Warnings   []string // things an admin should see that did not stop the read
	Location   string   // what was read: a file path, LDAP URL + base DN, API URL

	// Shape describes how the read looked, so that the engine can notice a
	// source that changed shape since the last good run (re-encoded,
	// re-headed) and hold destructive changes. Both are optional.
	Encoding string // the text encoding the data was decoded from ("utf-8", "gb18030"); "" if not applicable
	// Columns is a fixed header (CSV/XLSX): every name every record has,
	// in source order. Sources whose names vary per record (JSON) leave it
	// empty: a name gone from them is no sign of a changed export.
	Columns []string
}

// Record is one raw row or entry. Names is usually shared by all records of a
// batch (a CSV header, the configured LDAP attribute list) and must not be
// modified. Values[i] is the value of Names[i]: a string, or []string for a
// multi-valued attribute (LDAP). A missing value is "" (or nil for lists).
//
// A source whose every value is one string (CSV, XLSX) may give them as
// Texts instead, Values nil: Texts[i] is then the value of Names[i]. A cell
// held as a string is 16 bytes; the same cell in Values is 32 (the
// interface and the string it boxes, one allocation each), which at a
// million rows of eight columns is 128 MB and 8M allocations held for the
// whole read. Read values with Len, Value and Get, which serve both forms.
type Record struct {
	Origin model.Origin
	Names  []string
	Values []any
	Texts  []string
	// Problem, when set, says why this one record can't be trusted (a row
	// with more or fewer values than the header, a stray quote): mapping
	// rejects it, protecting its member by whatever identifiers its values
	// still give, while the rest of the batch stands.
	Problem string
}

// Len is the number of values the record holds.
func (r *Record) Len() int {
	if r.Values == nil {
		return len(r.Texts)
	}
	return len(r.Values)
}

// Value returns value i (0 ≤ i < Len()).
func (r *Record) Value(i int) any {
	if r.Values == nil {
		return r.Texts[i]
	}
	return r.Values[i]
}

// Release drops the record's values, keeping its origin and names: mapping
// calls it once a record is mapped, so that the values of the rows done are
// garbage while the rest are mapped.
func (r *Record) Release() { r.Values, r.Texts = nil, nil }

// Get returns the value of the named field.
func (r *Record) Get(name string) (any, bool) {
	for i, n := range r.Names {
		if n == name {
			if i < r.Len() {
				return r.Value(i), true
			}
			return "", true
		}
	}
	return nil, false
}

// String returns the named field as a string: a multi-valued field yields
// its first value, a missing field "".
func (r *Record) String(name string) string {
	v, _ := r.Get(name)
	return Text(v)
}

// Text renders a record value as a string: a string is itself, a
// multi-valued one ([]string, or a JSON array) its first value, anything
// else (nil, an empty list, a JSON object) "".
func Text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		if len(x) > 0 {
			return x[0]
		}
	case []any:
		if len(x) > 0 {
			return Text(x[0])
		}
	}
	return ""
}

// Config is a source type's configuration: decoded strictly from the
// `config:` block of a source, validated, then opened. Validate reports every
// problem it finds (errors.Join), each naming the field. Open's logger
// already carries the source's name (the engine adds the field source): a
// source does not add it again.
type Config interface {
	Validate() error
	Open(name string, log *zap.Logger) (Source, error)
}

// Factory makes an empty Config of one type, ready for decoding.
type Factory func() Config

// ErrUnknownType is returned for a source type that is not registered.
var ErrUnknownType = errors.New("unknown source type")

// Decode decodes node (a source's `config:` block) strictly into cfg: an
// unknown key is an error naming its path and its line in the config file.
func Decode(node *yaml.Node, cfg Config) error {
	return config.DecodeBlock(node, "config", cfg)
}
