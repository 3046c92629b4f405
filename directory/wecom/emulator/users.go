package emulator

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Member limits from wecom-api.md §4.
const (
	maxUserDepartments = 100
	maxBatchDelete     = 200
	maxListIDLimit     = 10000
)

// userInput is a create/update request with absent fields kept apart from
// empty ones (nil pointer = absent), whether it came from JSON or a CSV row.
type userInput struct {
	userid       string
	hasUserid    bool
	newUserid    *string
	name         *string
	alias        *string
	mobile       *string
	email        *string
	bizMail      *string
	position     *string
	gender       *string
	telephone    *string
	address      *string
	extPosition  *string
	nickname     *string
	avatarMedia  *string
	department   *[]int64
	order        *[]int64
	isLeader     *[]int64
	directLeader *[]string
	enable       *int64
	mainDept     *int64
	extattr      json.RawMessage
	extProfile   json.RawMessage
}

// parseUserInput reads a user/create or user/update body. A field of the
// wrong JSON type gets the errcode the real server gives for that field.
//
// Whole-struct SDKs send every field of their request type (wecom-api.md
// §4.5); these zero values mean "not given" whatever the Options:
//
//	null (any field)                      absent
//	"main_department": 0 or "0"           absent: the first department is the main one
//	"new_userid": ""                      absent: no rename
//	"order": [], "is_leader_in_dept": []  absent: the length rule applies to non-empty lists
//	"extattr": {"attrs": null} or {}      absent ({"attrs": []} clears)
//	"external_profile" with only zeros    absent
//	status, avatar, thumb_avatar, qr_code, open_userid, english_name,
//	isleader, hide_mobile, weixinid, to_invite and any unknown key:
//	                                      ignored, whatever their type
//
// Scalars are lenient: a string field takes a number as its text (gender
// 1 is "1", 0 is "0"), an int field a numeric string. The zero values whose
// meaning is UNCONFIRMED (enable 0 on create, "" on update) are settled by
// Server.applyZeroOptions.
func parseUserInput(b body) (*userInput, *apiErr) {
	in := &userInput{}
	var ok bool
	if in.userid, in.hasUserid, ok = b.str("userid"); !ok {
		return nil, errf(40003, "invalid userid")
	}
	strField := func(key string, code int, dst **string) *apiErr {
		v, present, ok := b.str(key)
		if !ok {
			return errf(code, "invalid %s", key)
		}
		if present {
			*dst = &v
		}
		return nil
	}
	for _, f := range []struct {
		key  string
		code int
		dst  **string
	}{
		{"new_userid", 40003, &in.newUserid},
		{"name", 60112, &in.name},
		{"alias", 40058, &in.alias},
		{"mobile", 60103, &in.mobile},
		{"email", 60105, &in.email},
		{"biz_mail", 60143, &in.bizMail},
		{"position", 301012, &in.position},
		{"gender", 40058, &in.gender},
		{"telephone", 301013, &in.telephone},
		{"address", 40058, &in.address},
		{"external_position", 40058, &in.extPosition},
		{"nickname", 40058, &in.nickname},
		{"avatar_mediaid", 301015, &in.avatarMedia},
	} {
		if e := strField(f.key, f.code, f.dst); e != nil {
			return nil, e
		}
	}
	if v, present, ok := b.ints("department"); !ok {
		return nil, errf(40066, "Warning: wrong json format. invalid party list")
	} else if present {
		in.department = &v
	}
	if v, present, ok := b.ints("order"); !ok {
		return nil, errf(40058, "Warning: wrong json format. invalid order")
	} else if present && len(v) > 0 {
		in.order = &v
	}
	if v, present, ok := b.ints("is_leader_in_dept"); !ok {
		return nil, errf(40058, "Warning: wrong json format. invalid is_leader_in_dept")
	} else if present && len(v) > 0 {
		in.isLeader = &v
	}
	if v, present, ok := b.strs("direct_leader"); !ok {
		return nil, errf(40058, "Warning: wrong json format. invalid direct_leader")
	} else if present {
		in.directLeader = &v
	}
	if v, present, ok := b.int("enable"); !ok {
		return nil, errf(40058, "invalid enable")
	} else if present {
		in.enable = &v
	}
	if v, present, ok := b.int("main_department"); !ok {
		return nil, errf(40058, "invalid main_department")
	} else if present && v != 0 {
		in.mainDept = &v
	}
	if in.newUserid != nil && *in.newUserid == "" {
		in.newUserid = nil
	}
	for _, f := range []struct {
		key string
		dst *json.RawMessage
	}{{"extattr", &in.extattr}, {"external_profile", &in.extProfile}} {
		if b.has(f.key) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b[f.key], &m); err != nil {
				return nil, errf(40058, "Warning: wrong json format. invalid %s", f.key)
			}
			if f.key == "extattr" && !body(m).has("attrs") || f.key == "external_profile" && zeroJSON(b[f.key]) {
				continue
			}
			*f.dst = append(json.RawMessage(nil), b[f.key]...)
		}
	}
	return in, nil
}

// zeroJSON reports whether a JSON value holds nothing but zero values:
// null, false, 0, "", and arrays and objects of those.
func zeroJSON(raw json.RawMessage) bool {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false
	}
	var zero func(v any) bool
	zero = func(v any) bool {
		switch x := v.(type) {
		case nil:
			return true
		case bool:
			return !x
		case float64:
			return x == 0
		case string:
			return x == ""
		case []any:
			for _, e := range x {
				if !zero(e) {
					return false
				}
			}
			return true
		case map[string]any:
			for _, e := range x {
				if !zero(e) {
					return false
				}
			}
			return true
		}
		return false
	}
	return zero(v)
}

// applyZeroOptions settles the zero values of a user/create or
// user/update JSON body whose meaning is UNCONFIRMED, as the Options say:
// enable 0 on create (EnableZeroOnCreateIgnored) and "" on update
// (EmptyStringKeepsField). Import rows settle theirs in userRowBody: 禁用 1
// means disabled, and an empty cell is read there.
func (s *Server) applyZeroOptions(in *userInput, create bool) {
	if create {
		if in.enable != nil && *in.enable == 0 && s.opts.EnableZeroOnCreateIgnored {
			in.enable = nil
		}
		return
	}
	if !s.opts.EmptyStringKeepsField {
		return
	}
	for _, p := range []**string{&in.name, &in.alias, &in.mobile, &in.email, &in.bizMail, &in.position,
		&in.gender, &in.telephone, &in.address, &in.extPosition, &in.nickname, &in.avatarMedia} {
		if *p != nil && **p == "" {
			*p = nil
		}
	}
}

// checkUserID applies the userid format: 1..64 bytes (40058 when longer),
// letters, digits and _-@. starting with a letter or digit (40003).
func checkUserID(id string) *apiErr {
	if id == "" {
		return errf(40003, "userid missing")
	}
	if len(id) > 64 {
		return errf(40058, "userid exceed max length 64")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return errf(40003, "invalid userid `%s`: must start with a letter or digit", id)
		}
		if !alnum && c != '_' && c != '-' && c != '@' && c != '.' {
			return errf(40003, "invalid userid `%s`: allowed characters are letters, digits and _-@.", id)
		}
	}
	return nil
}

// mobileNoise drops the spaces and dashes normMobile ignores (a Replacer
// is safe for concurrent use, and building one per call allocates).
var mobileNoise = strings.NewReplacer(" ", "", "-", "")

// normMobile is the form mobiles are compared in: spaces and dashes
// dropped, a leading +86 removed (UNCONFIRMED how the server normalises).
func normMobile(m string) string {
	return strings.TrimPrefix(mobileNoise.Replace(m), "+86")
}

// validMobile: ≤32 characters of digits, '+', '-' and spaces, '+' only
// first, at least 5 digits (60103).
func validMobile(m string) bool {
	if len(m) > 32 {
		return false
	}
	digits := 0
	for i, c := range m {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0, c == '-', c == ' ':
		default:
			return false
		}
	}
	return digits >= 5
}

// validEmail: 6..64 bytes, one @, a dotted domain, no spaces (60105/60143).
func validEmail(e string) bool {
	if len(e) < 6 || len(e) > 64 || strings.ContainsAny(e, " \t\r\n,;<>()[]\\\"") {
		return false
	}
	at := strings.IndexByte(e, '@')
	if at <= 0 || at != strings.LastIndexByte(e, '@') {
		return false
	}
	domain := e[at+1:]
	dot := strings.IndexByte(domain, '.')
	return dot > 0 && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}

func validTelephone(t string) bool {
	if len(t) > 32 {
		return false
	}
	for _, c := range t {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == ',') {
			return false
		}
	}
	return true
}

func cloneUser(u User) User {
	u.Department = append([]int64{}, u.Department...)
	u.Order = append([]uint32{}, u.Order...)
	u.IsLeaderInDept = append([]int{}, u.IsLeaderInDept...)
	u.DirectLeader = append([]string{}, u.DirectLeader...)
	return u
}

// applyUser validates in against the directory and applies it to u, a
// working copy of the member being created or updated (self is its key).
// Absent fields stay as they are.
func (s *Server) applyUser(u *User, in *userInput, self string, create, activated bool) *apiErr {
	d := s.dir
	if in.name != nil {
		n := utf8.RuneCountInString(*in.name)
		if strings.TrimSpace(*in.name) == "" || n > 64 {
			return errf(60112, "invalid name, want 1..64 characters")
		}
		u.Name = *in.name
	}
	if in.alias != nil {
		if utf8.RuneCountInString(*in.alias) > 64 {
			return errf(40058, "invalid alias, want at most 64 characters")
		}
		u.Alias = *in.alias
	}
	// A member who activated WeCom changes their own mobile: updates of it
	// are silently ignored.
	if in.mobile != nil && (create || !activated) {
		m := strings.TrimSpace(*in.mobile)
		if m != "" {
			if !validMobile(m) {
				return errf(60103, "mobile invalid: %s", m)
			}
			if owner, ok := d.mobiles[normMobile(m)]; ok && owner != self {
				return errf(60104, "mobile existed:%s", d.users[owner].u.UserID)
			}
		}
		u.Mobile = m
	}
	if in.email != nil {
		m := strings.TrimSpace(*in.email)
		if m != "" {
			if !validEmail(m) {
				return errf(60105, "email invalid: %s", m)
			}
			if owner, ok := d.emails[strings.ToLower(m)]; ok && owner != self {
				return errf(60106, "email existed:%s", d.users[owner].u.UserID)
			}
		}
		u.Email = m
	}
	if in.bizMail != nil {
		m := strings.TrimSpace(*in.bizMail)
		if m != "" {
			if !validEmail(m) {
				return errf(60143, "biz_mail invalid: %s", m)
			}
			if owner, ok := d.bizMails[strings.ToLower(m)]; ok && owner != self {
				return errf(60145, "biz_mail existed:%s", d.users[owner].u.UserID)
			}
		}
		u.BizMail = m
	}
	if in.position != nil {
		if utf8.RuneCountInString(*in.position) > 128 {
			return errc(301012)
		}
		u.Position = *in.position
	}
	if in.telephone != nil {
		if !validTelephone(*in.telephone) {
			return errc(301013)
		}
		u.Telephone = *in.telephone
	}
	if in.gender != nil {
		switch *in.gender {
		case "", "0":
			u.Gender = "0"
		case "1", "2":
			u.Gender = *in.gender
		default:
			return errf(40058, "invalid gender, want \"1\" or \"2\"")
		}
	}
	if in.address != nil {
		if utf8.RuneCountInString(*in.address) > 128 {
			return errf(40058, "invalid address, want at most 128 characters")
		}
		u.Address = *in.address
	}
	if in.extPosition != nil {
		if utf8.RuneCountInString(*in.extPosition) > 12 {
			return errf(40058, "invalid external_position, want at most 12 characters")
		}
		u.ExternalPosition = *in.extPosition
	}
	if in.nickname != nil {
		u.Nickname = *in.nickname
	}
	if in.extattr != nil {
		u.ExtAttr = in.extattr
	}
	if in.extProfile != nil {
		u.ExternalProfile = in.extProfile
	}
	if in.avatarMedia != nil {
		if *in.avatarMedia != "" {
			if _, e := s.lookupMedia(*in.avatarMedia); e != nil {
				return errf(301015, "invalid avatar mediaid")
			}
			u.Avatar = "https://wework.qpic.cn/emulator/" + *in.avatarMedia + "/0"
			u.ThumbAvatar = "https://wework.qpic.cn/emulator/" + *in.avatarMedia + "/100"
		}
	}
	if e := s.applyDepartments(u, in, create); e != nil {
		return e
	}
	if in.directLeader != nil {
		if len(*in.directLeader) > s.opts.MaxDirectLeaders {
			return errf(40058, "direct_leader exceeds limit %d", s.opts.MaxDirectLeaders)
		}
		leaders := []string{}
		for _, l := range *in.directLeader {
			if d.users[strings.ToLower(l)] == nil && strings.ToLower(l) != self {
				return errf(60111, "invalid string value `%s`. direct_leader userid not found", l)
			}
			leaders = append(leaders, l)
		}
		u.DirectLeader = leaders
	}
	if in.enable != nil {
		switch *in.enable {
		case 0:
			u.Enable, u.Status = 0, StatusDisabled
		case 1:
			u.Enable, u.Status = 1, StatusNotActive
			if activated {
				u.Status = StatusActive
			}
		default:
			return errf(40058, "invalid enable, want 0 or 1")
		}
	}
	return nil
}

// applyDepartments handles department, order, is_leader_in_dept and
// main_department, which are validated together.
func (s *Server) applyDepartments(u *User, in *userInput, create bool) *apiErr {
	deps := u.Department
	if in.department != nil {
		deps = *in.department
		if len(deps) == 0 {
			if !create || s.opts.LegacyDepartmentRequired {
				return errf(60127, "department missing")
			}
			deps = []int64{rootID}
		}
		if len(deps) > maxUserDepartments {
			return errf(60110, "user department count exceeds limit %d", maxUserDepartments)
		}
		seen := map[int64]bool{}
		for _, id := range deps {
			if seen[id] {
				return errf(40066, "invalid party list: duplicate department %d", id)
			}
			seen[id] = true
			if s.dir.depts[id] == nil {
				return errf(60003, "department %d not found", id)
			}
		}
	} else if create {
		if s.opts.LegacyDepartmentRequired {
			return errf(60127, "department missing")
		}
		deps = []int64{rootID}
	}
	// Keep each remaining department's order and leader flag.
	oldOrder, oldLeader := map[int64]uint32{}, map[int64]int{}
	for i, id := range u.Department {
		if i < len(u.Order) {
			oldOrder[id] = u.Order[i]
		}
		if i < len(u.IsLeaderInDept) {
			oldLeader[id] = u.IsLeaderInDept[i]
		}
	}
	order := make([]uint32, len(deps))
	leader := make([]int, len(deps))
	for i, id := range deps {
		order[i], leader[i] = oldOrder[id], oldLeader[id]
	}
	// order only takes effect together with department.
	if in.order != nil && in.department != nil {
		if len(*in.order) != len(deps) {
			return errf(60132, "order size %d not match department size %d", len(*in.order), len(deps))
		}
		for i, v := range *in.order {
			if v < 0 || v > math.MaxUint32 {
				return errf(40058, "invalid order, want uint32")
			}
			order[i] = uint32(v)
		}
	}
	if in.isLeader != nil {
		if len(*in.isLeader) != len(deps) {
			return errf(60132, "is_leader_in_dept size %d not match department size %d", len(*in.isLeader), len(deps))
		}
		for i, v := range *in.isLeader {
			if v != 0 && v != 1 {
				return errf(40058, "invalid is_leader_in_dept, want 0 or 1")
			}
			leader[i] = int(v)
		}
	}
	main := u.MainDepartment
	if in.mainDept != nil {
		main = *in.mainDept
	}
	if !slices.Contains(deps, main) {
		if in.mainDept != nil {
			return errf(40058, "invalid main_department %d: not in department", main)
		}
		main = deps[0]
	}
	u.Department, u.Order, u.IsLeaderInDept, u.MainDepartment = append([]int64{}, deps...), order, leader, main
	return nil
}

// indexUser adds (or with add=false removes) a member's contact and
// membership entries.
func (d *directory) indexUser(r *userRec, add bool) {
	set := func(m map[string]string, k string) {
		if k == "" {
			return
		}
		if add {
			m[k] = r.key
		} else if m[k] == r.key {
			delete(m, k)
		}
	}
	if r.u.Mobile != "" {
		set(d.mobiles, normMobile(r.u.Mobile))
	}
	set(d.emails, strings.ToLower(r.u.Email))
	set(d.bizMails, strings.ToLower(r.u.BizMail))
	for _, id := range r.u.Department {
		if x := d.depts[id]; x != nil {
			if add {
				x.members[r.key] = struct{}{}
			} else {
				delete(x.members, r.key)
			}
		}
	}
}

func (d *directory) addUser(r *userRec) {
	if r.seq == 0 {
		r.seq = d.nextSeq()
	}
	d.users[r.key] = r
	d.indexUser(r, true)
	d.sorted = nil
}

func (d *directory) removeUser(r *userRec) {
	d.indexUser(r, false)
	delete(d.users, r.key)
	d.sorted = nil
}

// createUser is user/create (and a created row of a batch import).
func (s *Server) createUser(in *userInput) *apiErr {
	if !in.hasUserid {
		return errf(40003, "userid missing")
	}
	if e := checkUserID(in.userid); e != nil {
		return e
	}
	key := strings.ToLower(in.userid)
	if ex := s.dir.users[key]; ex != nil {
		return errf(60102, "userid existed:%s", ex.u.UserID)
	}
	if in.name == nil {
		return errf(60112, "name missing")
	}
	u := User{UserID: in.userid, Gender: "0", Status: StatusNotActive, Enable: 1,
		Department: []int64{}, Order: []uint32{}, IsLeaderInDept: []int{}, DirectLeader: []string{}}
	if e := s.applyUser(&u, in, key, true, false); e != nil {
		return e
	}
	if u.Mobile == "" && u.Email == "" {
		return errc(60129)
	}
	if s.opts.MaxSeats > 0 && len(s.dir.users) >= s.opts.MaxSeats {
		return errf(45024, "account number exceeds limit %d", s.opts.MaxSeats)
	}
	for _, id := range u.Department {
		if nodeCountFull(s.dir.depts[id]) {
			return errc(81001)
		}
	}
	s.dir.addUser(&userRec{u: u, key: key})
	return nil
}

// updateUser is user/update (and an updated row of a batch import).
func (s *Server) updateUser(in *userInput) *apiErr {
	if !in.hasUserid || in.userid == "" {
		return errf(40003, "userid missing")
	}
	key := strings.ToLower(in.userid)
	r := s.dir.users[key]
	if r == nil {
		return errf(60111, "invalid string value `%s`. userid not found", in.userid)
	}
	// Only a system-generated userid may be renamed; the emulator has none.
	if in.newUserid != nil && strings.ToLower(*in.newUserid) != key {
		return errf(301036, "userid can not be changed")
	}
	u := cloneUser(r.u)
	if e := s.applyUser(&u, in, key, false, r.activated); e != nil {
		return e
	}
	if u.Mobile == "" && u.Email == "" {
		return errc(60129)
	}
	s.dir.indexUser(r, false)
	r.u = u
	s.dir.indexUser(r, true)
	return nil
}

// deleteUsers removes members by key after checking them all.
func (s *Server) checkDeletable(userid string) (*userRec, *apiErr) {
	r := s.dir.users[strings.ToLower(userid)]
	if r == nil {
		return nil, errf(60111, "invalid string value `%s`. userid not found", userid)
	}
	if s.opts.CreatorUserID != "" && strings.EqualFold(userid, s.opts.CreatorUserID) {
		return nil, errf(301005, "not allow to delete creator %s", r.u.UserID)
	}
	return r, nil
}

func (s *Server) userCreate(c *call) (obj, *apiErr) {
	in, e := parseUserInput(c.b)
	if e != nil {
		return nil, e
	}
	s.applyZeroOptions(in, true)
	return nil, s.createUser(in)
}

func (s *Server) userUpdate(c *call) (obj, *apiErr) {
	in, e := parseUserInput(c.b)
	if e != nil {
		return nil, e
	}
	s.applyZeroOptions(in, false)
	return nil, s.updateUser(in)
}

// queryUser reads ?userid= (41009 when missing, 60111 when unknown;
// matching ignores case).
func (s *Server) queryUser(c *call) (*userRec, *apiErr) {
	id := c.q.Get("userid")
	if id == "" {
		return nil, errf(41009, "userid missing")
	}
	r := s.dir.users[strings.ToLower(id)]
	if r == nil {
		return nil, errf(60111, "invalid string value `%s`. userid not found", id)
	}
	return r, nil
}

func (s *Server) userDelete(c *call) (obj, *apiErr) {
	id := c.q.Get("userid")
	if id == "" {
		return nil, errf(41009, "userid missing")
	}
	r, e := s.checkDeletable(id)
	if e != nil {
		return nil, e
	}
	s.dir.removeUser(r)
	return nil, nil
}

func (s *Server) userBatchdelete(c *call) (obj, *apiErr) {
	ids, present, ok := c.b.strs("useridlist")
	if !ok {
		return nil, errf(40031, "Warning: wrong json format. invalid useridlist")
	}
	if !present || len(ids) == 0 {
		return nil, errf(40058, "useridlist missing")
	}
	if len(ids) > maxBatchDelete {
		return nil, errf(40032, "invalid userid list size %d, max %d", len(ids), maxBatchDelete)
	}
	// All or nothing: every id is checked before anything is deleted.
	recs := make([]*userRec, 0, len(ids))
	for _, id := range ids {
		r, e := s.checkDeletable(id)
		if e != nil {
			return nil, e
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		if s.dir.users[r.key] == r {
			s.dir.removeUser(r)
		}
	}
	return nil, nil
}

func (s *Server) userGet(c *call) (obj, *apiErr) {
	r, e := s.queryUser(c)
	if e != nil {
		return nil, e
	}
	if !s.visibleUser(c, r) {
		return nil, errf(60011, "no privilege to access user %s", r.u.UserID)
	}
	return obj{{"", s.userView(c, r)}}, nil
}

// visibleUser reports whether the caller may see a member: one of their
// departments is visible.
func (s *Server) visibleUser(c *call, r *userRec) bool {
	for _, id := range r.u.Department {
		if s.visibleDept(c, id) {
			return true
		}
	}
	return false
}

// userView is a member as the caller may see them: an app secret with a
// scope sees only the visible departments (and leaders), one with
// StripSensitive no avatar, gender, mobile, email, biz_mail, qr_code or
// address.
func (s *Server) userView(c *call, r *userRec) User {
	u := s.dir.wireUser(r)
	if len(c.scope) > 0 {
		deps, order, leader := []int64{}, []uint32{}, []int{}
		for i, id := range u.Department {
			if s.visibleDept(c, id) {
				deps, order, leader = append(deps, id), append(order, u.Order[i]), append(leader, u.IsLeaderInDept[i])
			}
		}
		u.Department, u.Order, u.IsLeaderInDept = deps, order, leader
		if !s.visibleDept(c, u.MainDepartment) {
			u.MainDepartment = 0
		}
		leaders := []string{}
		for _, l := range u.DirectLeader {
			if lr := s.dir.users[strings.ToLower(l)]; lr != nil && s.visibleUser(c, lr) {
				leaders = append(leaders, l)
			}
		}
		u.DirectLeader = leaders
	}
	if c.strip {
		u.Avatar, u.ThumbAvatar, u.Mobile, u.Email, u.BizMail, u.QRCode, u.Address = "", "", "", "", "", "", ""
		u.Gender = "0"
	}
	return u
}

// deptMembers lists the members of a department (and with fetchChild of
// its descendants), each once, larger order first then creation order.
func (s *Server) deptMembers(c *call) ([]*userRec, *apiErr) {
	x, present, e := s.queryDept(c, "department_id")
	if e != nil {
		return nil, e
	}
	if !present {
		return nil, errf(60003, "department_id missing")
	}
	if !s.visibleDept(c, x.id) {
		return nil, errf(60011, "no privilege to access department %d", x.id)
	}
	depts := []*dept{x}
	if c.q.Get("fetch_child") == "1" {
		depts = s.dir.subtree(x.id)
	}
	seen := map[string]bool{}
	out := []*userRec{}
	for _, dx := range depts {
		part := make([]*userRec, 0, len(dx.members))
		for k := range dx.members {
			if !seen[k] {
				seen[k] = true
				part = append(part, s.dir.users[k])
			}
		}
		orderIn := func(r *userRec) uint32 {
			for i, id := range r.u.Department {
				if id == dx.id && i < len(r.u.Order) {
					return r.u.Order[i]
				}
			}
			return 0
		}
		sort.Slice(part, func(i, j int) bool {
			oi, oj := orderIn(part[i]), orderIn(part[j])
			if oi != oj {
				return oi > oj
			}
			return part[i].seq < part[j].seq
		})
		out = append(out, part...)
	}
	return out, nil
}

func (s *Server) userList(c *call) (obj, *apiErr) {
	recs, e := s.deptMembers(c)
	if e != nil {
		return nil, e
	}
	out := make([]User, 0, len(recs))
	for _, r := range recs {
		out = append(out, s.userView(c, r))
	}
	return obj{{"userlist", out}}, nil
}

type simpleUser struct {
	UserID     string  `json:"userid"`
	Name       string  `json:"name"`
	Department []int64 `json:"department"`
}

func (s *Server) userSimplelist(c *call) (obj, *apiErr) {
	recs, e := s.deptMembers(c)
	if e != nil {
		return nil, e
	}
	out := make([]simpleUser, 0, len(recs))
	for _, r := range recs {
		out = append(out, simpleUser{UserID: r.u.UserID, Name: r.u.Name, Department: s.userView(c, r).Department})
	}
	return obj{{"userlist", out}}, nil
}

type deptUser struct {
	UserID     string `json:"userid"`
	Department int64  `json:"department"`
}

// Cursors are opaque to clients: base64 of the next (user key, department
// index) to return. Anything that does not decode is 50100.
func encodeCursor(key string, idx int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1\x00" + key + "\x00" + strconv.Itoa(idx)))
}

func decodeCursor(c string) (string, int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", 0, false
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[0] != "v1" || parts[1] == "" {
		return "", 0, false
	}
	idx, err := strconv.Atoi(parts[2])
	if err != nil || idx < 0 {
		return "", 0, false
	}
	return parts[1], idx, true
}

func (s *Server) userListID(c *call) (obj, *apiErr) {
	cursor, _, ok := c.b.str("cursor")
	if !ok {
		return nil, errc(50100)
	}
	limit, present, ok := c.b.int("limit")
	if !ok || (present && (limit < 1 || limit > maxListIDLimit)) {
		return nil, errf(40058, "invalid limit, want 1..%d", maxListIDLimit)
	}
	if !present {
		limit = maxListIDLimit
	}
	keys := s.dir.sortedUsers()
	pos, idx := 0, 0
	if cursor != "" {
		key, i, ok := decodeCursor(cursor)
		if !ok {
			return nil, errf(50100, "invalid cursor")
		}
		pos = sort.SearchStrings(keys, key)
		if pos < len(keys) && keys[pos] == key {
			idx = i
		}
	}
	rows := make([]deptUser, 0, min(int(limit), 1024))
	for pos < len(keys) && len(rows) < int(limit) {
		u := s.dir.users[keys[pos]]
		for idx < len(u.u.Department) && len(rows) < int(limit) {
			rows = append(rows, deptUser{UserID: u.u.UserID, Department: u.u.Department[idx]})
			idx++
		}
		if idx >= len(u.u.Department) {
			pos, idx = pos+1, 0
		}
	}
	next := ""
	if pos < len(keys) {
		next = encodeCursor(keys[pos], idx)
	}
	return obj{{"next_cursor", next}, {"dept_user", rows}}, nil
}

// userGetuserid is user/getuserid: mobile to userid, compared like the
// uniqueness rule (46004 when nobody has it).
func (s *Server) userGetuserid(c *call) (obj, *apiErr) {
	mobile, _, ok := c.b.str("mobile")
	mobile = strings.TrimSpace(mobile)
	if !ok || mobile == "" {
		return nil, errf(40058, "mobile missing")
	}
	if !validMobile(mobile) {
		return nil, errf(60103, "mobile invalid: %s", mobile)
	}
	key, found := s.dir.mobiles[normMobile(mobile)]
	if !found {
		return nil, errc(46004)
	}
	return obj{{"userid", s.dir.users[key].u.UserID}}, nil
}

// userGetuseridByEmail is user/get_userid_by_email: email_type 1 (the
// default) searches biz_mail, 2 the personal email.
func (s *Server) userGetuseridByEmail(c *call) (obj, *apiErr) {
	email, _, ok := c.b.str("email")
	email = strings.TrimSpace(email)
	if !ok || email == "" {
		return nil, errf(40058, "email missing")
	}
	// email_type 0 (a whole-struct SDK's zero value) is the default, 1.
	typ, present, ok := c.b.int("email_type")
	if !present || ok && typ == 0 {
		typ = 1
	}
	index := s.dir.bizMails
	switch {
	case !ok || (typ != 1 && typ != 2):
		return nil, errf(40058, "invalid email_type, want 1 or 2")
	case typ == 2:
		index = s.dir.emails
	}
	key, found := index[strings.ToLower(email)]
	if !found {
		return nil, errc(46004)
	}
	return obj{{"userid", s.dir.users[key].u.UserID}}, nil
}
