package model

// The accessors of the fields a Person keeps in its PersonMore. Getters
// read a nil PersonMore as all zero; setters never write through the
// pointer (copies of a Person share it) but store a new PersonMore, or nil
// when it would be all zero, so that two equal Persons are deeply equal
// whichever way they were built.

// noMore is what a Person without a PersonMore reads; never written.
var noMore PersonMore

// m is p's PersonMore to read (noMore when it has none). Not for writing:
// the PersonMore is shared by copies of p.
func (p *Person) m() *PersonMore {
	if p.more == nil {
		return &noMore
	}
	return p.more
}

func (p *Person) Alias() string     { return p.m().Alias }
func (p *Person) BizMail() string   { return p.m().BizMail }
func (p *Person) Telephone() string { return p.m().Telephone }

// MainDepartment is the key of the main department when it is set apart
// from Departments' first ("" otherwise).
func (p *Person) MainDepartment() string { return p.m().MainDepartment }

// LeaderOf is the department keys where the person is a leader. The
// slice is shared: do not modify it.
func (p *Person) LeaderOf() []string { return p.m().LeaderOf }

// ExtAttrs is the extension attributes, sorted by name. The slice is
// shared: do not modify it.
func (p *Person) ExtAttrs() []ExtAttr { return p.m().ExtAttrs }

// More returns a copy of the rarely set fields (all zero when none is).
func (p *Person) More() PersonMore { return *p.m() }

// SetMore replaces the rarely set fields.
func (p *Person) SetMore(m PersonMore) {
	if m.zero() {
		p.more = nil
		return
	}
	// Allocated here, past the test: with &m, m itself would be moved to
	// the heap on every call, a PersonMore of garbage a person even when
	// it is all zero.
	c := new(PersonMore)
	*c = m
	p.more = c
}

// With returns p with its rarely set fields replaced: for literals,
// model.Person{Key: "e1"}.With(model.PersonMore{Alias: "x"}).
func (p Person) With(m PersonMore) Person {
	p.SetMore(m)
	return p
}

func (p *Person) SetAlias(v string)     { m := p.More(); m.Alias = v; p.SetMore(m) }
func (p *Person) SetBizMail(v string)   { m := p.More(); m.BizMail = v; p.SetMore(m) }
func (p *Person) SetTelephone(v string) { m := p.More(); m.Telephone = v; p.SetMore(m) }
func (p *Person) SetMainDepartment(v string) {
	m := p.More()
	m.MainDepartment = v
	p.SetMore(m)
}
func (p *Person) SetLeaderOf(v []string)  { m := p.More(); m.LeaderOf = v; p.SetMore(m) }
func (p *Person) SetExtAttrs(v []ExtAttr) { m := p.More(); m.ExtAttrs = v; p.SetMore(m) }

// zero: nothing set. An empty but non-nil list counts as set, as it did
// when these were fields of Person (deep equality tells them apart).
func (m *PersonMore) zero() bool {
	return m.Alias == "" && m.BizMail == "" && m.Telephone == "" &&
		m.MainDepartment == "" && m.LeaderOf == nil && m.ExtAttrs == nil
}
