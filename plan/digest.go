package plan

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// Digest is the SHA-256 of c's changes: c as WriteJSON writes it compact,
// notices left out (they are not changes, and a fresh plan may notice other
// things than the reviewed one). WriteJSON writes fields in struct order and
// map keys sorted, so two plans have the same digest exactly when they
// encode to the same JSON, notices aside.
func Digest(c *Changes) ([]byte, error) {
	cp := *c
	cp.Notices = nil
	h := sha256.New()
	if err := cp.WriteJSON(h, "", ""); err != nil {
		return nil, fmt.Errorf("digest the plan: %w", err)
	}
	return h.Sum(nil), nil
}

// Summary is what DigestJSON keeps of a plan file.
type Summary struct {
	Sum    []byte     // Digest of the plan the file holds
	Counts map[Op]int // as Changes.Counts of that plan
}

// ErrMemberOrder is DigestJSON's error for a file whose members are not in
// the order WriteJSON writes them (a member after one that WriteJSON
// writes after it, or a member given twice; notices are exempt, being left
// out). Such a file is valid: its digest is Digest of what ReadJSON reads.
var ErrMemberOrder = errors.New("the plan's members are not in the order WriteJSON writes them")

// DigestJSON reads a plan's JSON as ReadJSON does and returns the Digest of
// the plan ReadJSON would return, holding one change at a time: each
// element is decoded, encoded as WriteJSON encodes it and hashed, so a file
// of a million changes costs no more memory than one of ten. It accepts and
// refuses what ReadJSON does, except that it refuses with ErrMemberOrder a
// file whose members are out of WriteJSON's order: the digest is of the
// members in that order, and a member read before one it follows would
// have to be held until then. Files WriteJSON writes, compact or indented,
// are in that order; so is any JSON of Changes that encoding/json writes.
func DigestJSON(r io.Reader) (Summary, error) {
	h := sha256.New()
	o := newJSONOut(h, "", "")
	fields := changesFields()
	counts := map[Op]int{}
	for _, op := range AllOps {
		counts[op] = 0
	}
	ops := listOps()
	// next is the position in fields of the first member not yet written;
	// the members before it are written or known to be absent.
	next := 0
	absentTo := func(p int) error {
		for ; next < p; next++ {
			f := fields[next]
			if f.omitEmpty || f.index == noticesIndex() {
				continue
			}
			o.member(f)
			if err := o.value(reflect.Zero(changesType.Field(f.index).Type).Interface(), 1); err != nil {
				return err
			}
		}
		return nil
	}
	err := scanJSON(r, func(dec *json.Decoder, p int) error {
		f := fields[p]
		t := changesType.Field(f.index).Type
		if f.index == noticesIndex() {
			_, err := list(dec, t.Elem(), func(int, reflect.Value) error { return nil })
			return err
		}
		if p < next {
			return fmt.Errorf("%w: %s after %s", ErrMemberOrder, fields[p].name, fields[next-1].name)
		}
		if err := absentTo(p); err != nil {
			return err
		}
		next = p + 1
		if !f.stream {
			v := reflect.New(t)
			if err := decode(dec, v.Interface()); err != nil {
				return err
			}
			if f.omitEmpty && isEmptyJSON(v.Elem()) {
				return nil
			}
			o.member(f)
			return o.value(v.Elem().Interface(), 1)
		}
		op, counted := ops[f.index]
		n := 0
		isArray, err := list(dec, t.Elem(), func(i int, e reflect.Value) error {
			if i == 0 {
				o.member(f)
			}
			n++
			if counted {
				counts[op]++
			}
			return o.elem(i, e.Interface())
		})
		switch {
		case err != nil:
			return err
		case n > 0:
			o.closeList()
		case !f.omitEmpty: // what WriteJSON writes of a nil or empty list
			o.member(f)
			v := reflect.Zero(t)
			if isArray {
				v = reflect.MakeSlice(t, 0, 0)
			}
			return o.value(v.Interface(), 1)
		}
		return nil
	})
	if err == nil {
		err = absentTo(len(fields))
	}
	if err == nil {
		err = o.close()
	}
	if err != nil {
		return Summary{}, err
	}
	return Summary{Sum: h.Sum(nil), Counts: counts}, nil
}

// ReadJSON decodes a plan written by WriteJSON (or any JSON of Changes) as
// a stream: each change is decoded as it is read, so the file is never held
// as text. It decodes what json.Unmarshal would: member names matched as
// encoding/json matches them (exactly, else case-insensitively), unknown
// members skipped, nothing but white space after the object; a list given
// twice is the last one given.
func ReadJSON(r io.Reader) (*Changes, error) {
	var c Changes
	rv := reflect.ValueOf(&c).Elem()
	err := scanJSON(r, func(dec *json.Decoder, p int) error {
		f := changesFields()[p]
		fv := rv.Field(f.index)
		if !f.stream {
			return decode(dec, fv.Addr().Interface())
		}
		s := reflect.MakeSlice(fv.Type(), 0, 0)
		isArray, err := list(dec, fv.Type().Elem(), func(_ int, e reflect.Value) error {
			s = reflect.Append(s, e)
			return nil
		})
		if err != nil {
			return err
		}
		if isArray {
			fv.Set(s)
		} else {
			fv.SetZero()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// scanJSON reads the JSON object of a Changes from r, calling member for
// each member that names a field, with p its position in changesFields and
// the decoder before its value, which member must read whole. Members that
// name no field are skipped token by token (none is held). Anything but
// one object followed by white space is an error, which names the member
// it is in and, for bad syntax, the byte offset.
func scanJSON(r io.Reader, member func(dec *json.Decoder, p int) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	t, err := dec.Token()
	switch {
	case err == io.EOF:
		return errors.New("want a JSON object, found nothing")
	case err != nil:
		return located(err, dec.InputOffset(), "at byte")
	case t != json.Delim('{'):
		return fmt.Errorf("want a JSON object, found %v", t)
	}
	for dec.More() {
		t, err := token(dec)
		if err != nil {
			return err
		}
		name, _ := t.(string) // a member name: the decoder refuses anything else here
		p, ok := memberPosition(name)
		if !ok {
			if err := skip(dec); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		if err := member(dec, p); err != nil {
			if errors.Is(err, ErrMemberOrder) {
				return err
			}
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if _, err := token(dec); err != nil { // the closing brace
		return err
	}
	end := dec.InputOffset()
	if t, err := dec.Token(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("unexpected %v after the plan, which ends at byte %d", t, end)
		}
		return fmt.Errorf("after the plan: %w", located(err, dec.InputOffset(), "at byte"))
	}
	return nil
}

// list reads the JSON array (or null) the decoder is at one element at a
// time, decoding each into a fresh value of type elem (as json.Unmarshal
// decodes an element) and passing it to each before the next is read. It
// reports whether it read an array: null is the nil list, [] the empty one.
func list(dec *json.Decoder, elem reflect.Type, each func(i int, e reflect.Value) error) (isArray bool, err error) {
	t, err := token(dec)
	if err != nil {
		return false, err
	}
	if t == nil {
		return false, nil
	}
	if t != json.Delim('[') {
		return false, fmt.Errorf("want an array, found %v", t)
	}
	for i := 0; dec.More(); i++ {
		e := reflect.New(elem)
		if err := decode(dec, e.Interface()); err != nil {
			return true, fmt.Errorf("element %d: %w", i, err)
		}
		if err := each(i, e.Elem()); err != nil {
			return true, fmt.Errorf("element %d: %w", i, err)
		}
	}
	_, err = token(dec) // ]
	return true, err
}

// skip reads the value the decoder is at.
func skip(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := token(dec)
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// token is dec.Token with errors that say where: bad syntax at the byte
// (counted from 0) of the offending character.
func token(dec *json.Decoder) (json.Token, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, located(err, dec.InputOffset(), "at byte")
	}
	return t, nil
}

// decode is dec.Decode with errors that say where: the byte where the
// decoder stood when the value began (at most its separator and white
// space before it). encoding/json's own offsets in a value's errors count
// from an earlier point of the stream, not from the file's start.
func decode(dec *json.Decoder, v any) error {
	from := dec.InputOffset()
	if err := dec.Decode(v); err != nil {
		return located(err, from, "in the value from byte")
	}
	return nil
}

// located is err with where, except that an end of input is a cut file:
// it comes before the object is closed.
func located(err error, off int64, where string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return io.ErrUnexpectedEOF
	}
	return &offsetError{err, where, off}
}

// offsetError is a decoder's error with where in the file it is.
type offsetError struct {
	err   error
	where string
	off   int64
}

func (e *offsetError) Error() string { return fmt.Sprintf("%v (%s %d)", e.err, e.where, e.off) }
func (e *offsetError) Unwrap() error { return e.err }

var changesType = reflect.TypeFor[Changes]()

// noticesIndex is the index of Changes.Notices, the field Digest leaves out.
var noticesIndex = sync.OnceValue(func() int {
	sf, _ := changesType.FieldByName("Notices")
	return sf.Index[0]
})

// memberPosition finds the field a member name names, as encoding/json
// does: the exact name, else one equal under case folding (the first in
// field order).
func memberPosition(name string) (int, bool) {
	fields := changesFields()
	for p, f := range fields {
		if f.name == name {
			return p, true
		}
	}
	for p, f := range fields {
		if strings.EqualFold(f.name, name) {
			return p, true
		}
	}
	return 0, false
}

// listOps maps the index of each list field of Changes that Counts counts
// to its op, learnt from Counts itself so that the two never disagree.
var listOps = sync.OnceValue(func() map[int]Op {
	m := map[int]Op{}
	for _, f := range changesFields() {
		if !f.stream {
			continue
		}
		var c Changes
		fv := reflect.ValueOf(&c).Elem().Field(f.index)
		fv.Set(reflect.MakeSlice(fv.Type(), 1, 1))
		for op, n := range c.Counts() {
			if n == 1 {
				m[f.index] = op
			}
		}
	}
	return m
})
