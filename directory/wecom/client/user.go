package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// MaxBatchDelete is WeCom's limit of userids per user/batchdelete.
const MaxBatchDelete = 200

// MaxListIDLimit is the largest page user/list_id accepts.
const MaxListIDLimit = 10000

// ExtAttr holds custom attributes. Names must exist in the admin console;
// WeCom silently drops unknown ones.
type ExtAttr struct {
	Attrs []ExtAttrItem `json:"attrs"`
}

// MarshalJSON sends nil Attrs as [], the documented "clear them": whole-
// struct SDKs send {"attrs": null}, which a server may read as "not given".
func (x ExtAttr) MarshalJSON() ([]byte, error) {
	type plain ExtAttr
	if x.Attrs == nil {
		x.Attrs = []ExtAttrItem{}
	}
	return jsonBody(plain(x))
}

// ExtAttrItem is one attribute: Type 0 text (Text), 1 web (Web).
type ExtAttrItem struct {
	Type int          `json:"type"`
	Name string       `json:"name"`
	Text *ExtAttrText `json:"text,omitempty"`
	Web  *ExtAttrWeb  `json:"web,omitempty"`
}

// ExtAttrText is the value of a text attribute (≤64 characters).
type ExtAttrText struct {
	Value string `json:"value"`
}

// ExtAttrWeb is the value of a web attribute.
type ExtAttrWeb struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// TextAttr builds a text attribute.
func TextAttr(name, value string) ExtAttrItem {
	return ExtAttrItem{Type: 0, Name: name, Text: &ExtAttrText{Value: value}}
}

// UserCreate is the body of user/create. Name and one of Mobile or Email
// are required. Every field is left out at its zero value, so the body
// holds only what the caller set: WeCom's reading of several zero values is
// UNCONFIRMED (wecom-api.md §4.5). MainDepartment 0 is left out (the first
// department is the main one). Enable nil leaves WeCom's default (enabled);
// Ptr(Disabled) on create is UNCONFIRMED (a server may ignore it), so to
// create a disabled member create it enabled and then disable it.
type UserCreate struct {
	UserID           string   `json:"userid"`
	Name             string   `json:"name"`
	Alias            string   `json:"alias,omitempty"`
	Mobile           string   `json:"mobile,omitempty"`
	Department       []int    `json:"department,omitempty"`
	Order            []uint32 `json:"order,omitempty"`
	Position         string   `json:"position,omitempty"`
	Gender           string   `json:"gender,omitempty"` // "1" male, "2" female
	Email            string   `json:"email,omitempty"`
	BizMail          string   `json:"biz_mail,omitempty"`
	Telephone        string   `json:"telephone,omitempty"`
	IsLeaderInDept   []int    `json:"is_leader_in_dept,omitempty"`
	DirectLeader     []string `json:"direct_leader,omitempty"`
	Enable           *int     `json:"enable,omitempty"` // 1 enabled, 0 disabled
	AvatarMediaID    string   `json:"avatar_mediaid,omitempty"`
	ExtAttr          *ExtAttr `json:"extattr,omitempty"`
	ToInvite         *bool    `json:"to_invite,omitempty"`
	ExternalPosition string   `json:"external_position,omitempty"`
	Address          string   `json:"address,omitempty"`
	MainDepartment   int      `json:"main_department,omitempty"`
}

// UserUpdate is the body of user/update. A nil field is left unchanged
// (omitted); a pointer to "" (or to an empty or nil slice, sent as [])
// clears the field. Order and IsLeaderInDept only take effect together with
// Department, which replaces the member's whole department set.
//
// The body never holds a zero value WeCom could read two ways (wecom-api.md
// §4.5): MainDepartment pointing to 0 is left out, and Gender pointing to ""
// is sent as "0" (unset), which clears gender whether or not the server
// reads "" as "clear". A pointer to "" in any other text field is sent as
// "": clearing it is what it means, and the only way WeCom offers.
type UserUpdate struct {
	UserID           string    `json:"userid"`
	Name             *string   `json:"name,omitempty"`
	Alias            *string   `json:"alias,omitempty"`
	Mobile           *string   `json:"mobile,omitempty"` // ignored by WeCom for activated members
	Department       *[]int    `json:"department,omitempty"`
	Order            *[]uint32 `json:"order,omitempty"`
	Position         *string   `json:"position,omitempty"`
	Gender           *string   `json:"gender,omitempty"`
	Email            *string   `json:"email,omitempty"`
	BizMail          *string   `json:"biz_mail,omitempty"`
	Telephone        *string   `json:"telephone,omitempty"`
	IsLeaderInDept   *[]int    `json:"is_leader_in_dept,omitempty"`
	DirectLeader     *[]string `json:"direct_leader,omitempty"`
	Enable           *int      `json:"enable,omitempty"`
	AvatarMediaID    *string   `json:"avatar_mediaid,omitempty"`
	ExtAttr          *ExtAttr  `json:"extattr,omitempty"`
	ExternalPosition *string   `json:"external_position,omitempty"`
	Address          *string   `json:"address,omitempty"`
	MainDepartment   *int      `json:"main_department,omitempty"`
}

// MarshalJSON encodes the body as documented on UserUpdate.
func (u UserUpdate) MarshalJSON() ([]byte, error) {
	type plain UserUpdate
	p := plain(u)
	if p.MainDepartment != nil && *p.MainDepartment == 0 {
		p.MainDepartment = nil
	}
	if p.Gender != nil && *p.Gender == "" {
		p.Gender = Ptr("0")
	}
	p.Department = nonNilSlice(p.Department)
	p.Order = nonNilSlice(p.Order)
	p.IsLeaderInDept = nonNilSlice(p.IsLeaderInDept)
	p.DirectLeader = nonNilSlice(p.DirectLeader)
	return jsonBody(p)
}

// nonNilSlice turns a pointer to a nil slice, which would go out as null
// (read as "not given"), into a pointer to an empty one, sent as [].
func nonNilSlice[T any](p *[]T) *[]T {
	if p != nil && *p == nil {
		return &[]T{}
	}
	return p
}

// User is a member as user/get and user/list return it.
type User struct {
	UserID           string   `json:"userid"`
	Name             string   `json:"name"`
	Alias            string   `json:"alias,omitempty"`
	Mobile           string   `json:"mobile,omitempty"`
	Department       []int    `json:"department"`
	Order            []uint32 `json:"order,omitempty"`
	Position         string   `json:"position,omitempty"`
	Gender           string   `json:"gender,omitempty"`
	Email            string   `json:"email,omitempty"`
	BizMail          string   `json:"biz_mail,omitempty"`
	Telephone        string   `json:"telephone,omitempty"`
	IsLeaderInDept   []int    `json:"is_leader_in_dept,omitempty"`
	DirectLeader     []string `json:"direct_leader,omitempty"`
	Avatar           string   `json:"avatar,omitempty"`
	ThumbAvatar      string   `json:"thumb_avatar,omitempty"`
	Status           int      `json:"status"` // 1 active, 2 disabled, 4 not activated, 5 left
	Enable           *int     `json:"enable,omitempty"`
	ExtAttr          *ExtAttr `json:"extattr,omitempty"`
	QRCode           string   `json:"qr_code,omitempty"`
	ExternalPosition string   `json:"external_position,omitempty"`
	Address          string   `json:"address,omitempty"`
	OpenUserID       string   `json:"open_userid,omitempty"`
	MainDepartment   int      `json:"main_department,omitempty"`
}

// UserRef is a row of user/simplelist.
type UserRef struct {
	UserID     string `json:"userid"`
	Name       string `json:"name"`
	Department []int  `json:"department"`
	OpenUserID string `json:"open_userid,omitempty"`
}

// DeptUser is a row of user/list_id: one per (member, department).
type DeptUser struct {
	UserID     string `json:"userid"`
	Department int    `json:"department"`
}

// ListIDPage is one page of user/list_id; NextCursor "" means the last.
type ListIDPage struct {
	NextCursor string     `json:"next_cursor"`
	DeptUser   []DeptUser `json:"dept_user"`
}

// Ptr returns a pointer to v, for the optional fields of update bodies.
func Ptr[T any](v T) *T { return &v }

// Enabled and Disabled are the values of the enable field.
const (
	Enabled  = 1
	Disabled = 0
)

// CreateUser creates a member. 60102 means the userid exists (userids are
// case-insensitive); after a retried dropped connection it may be our own
// earlier attempt, so callers treat it as "switch to update".
func (c *Client) CreateUser(ctx context.Context, u UserCreate) error {
	return c.postJSON(ctx, "user/create", u, nil)
}

// UpdateUser changes the non-nil fields of a member (60111: no such userid).
func (c *Client) UpdateUser(ctx context.Context, u UserUpdate) error {
	return c.postJSON(ctx, "user/update", u, nil)
}

// GetUser reads one member. Restricted reads answer 48009.
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	var u User
	if err := c.get(ctx, "user/get", url.Values{"userid": {userID}}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// DeleteUser deletes a member and its Exmail mailbox; irreversible. Prefer
// disabling (Enable: Disabled).
func (c *Client) DeleteUser(ctx context.Context, userID string) error {
	return c.get(ctx, "user/delete", url.Values{"userid": {userID}}, nil)
}

// BatchDeleteUsers deletes up to MaxBatchDelete members in one call. WeCom
// deletes nothing if any id is invalid. More ids fail with
// ErrTooManyUserIDs before any call; none is a no-op.
func (c *Client) BatchDeleteUsers(ctx context.Context, userIDs []string) error {
	if len(userIDs) > MaxBatchDelete {
		return fmt.Errorf("wecom user/batchdelete: %d userids: %w", len(userIDs), ErrTooManyUserIDs)
	}
	if len(userIDs) == 0 {
		return nil
	}
	return c.postJSON(ctx, "user/batchdelete", struct {
		UserIDList []string `json:"useridlist"`
	}{userIDs}, nil)
}

func memberQuery(deptID int, fetchChild bool) url.Values {
	q := url.Values{"department_id": {strconv.Itoa(deptID)}}
	if fetchChild {
		q.Set("fetch_child", "1")
	}
	return q
}

// ListUsers returns the members of a department with details (with
// fetchChild, of its descendants too; avoid on big orgs: 45029).
// Restricted reads answer 48009.
func (c *Client) ListUsers(ctx context.Context, deptID int, fetchChild bool) ([]User, error) {
	var out struct {
		UserList []User `json:"userlist"`
	}
	if err := c.get(ctx, "user/list", memberQuery(deptID, fetchChild), &out); err != nil {
		return nil, err
	}
	return out.UserList, nil
}

// SimpleListUsers returns userid, name and departments of a department's
// members. Restricted reads answer 48009.
func (c *Client) SimpleListUsers(ctx context.Context, deptID int, fetchChild bool) ([]UserRef, error) {
	var out struct {
		UserList []UserRef `json:"userlist"`
	}
	if err := c.get(ctx, "user/simplelist", memberQuery(deptID, fetchChild), &out); err != nil {
		return nil, err
	}
	return out.UserList, nil
}

// ListUserIDPage fetches one page of user/list_id; cursor "" is the first
// page, limit is 1..MaxListIDLimit.
func (c *Client) ListUserIDPage(ctx context.Context, cursor string, limit int) (ListIDPage, error) {
	if limit < 1 || limit > MaxListIDLimit {
		return ListIDPage{}, fmt.Errorf("wecom user/list_id: limit %d outside 1..%d", limit, MaxListIDLimit)
	}
	in := struct {
		Cursor string `json:"cursor,omitempty"`
		Limit  int    `json:"limit"`
	}{cursor, limit}
	var out ListIDPage
	if err := c.postJSON(ctx, "user/list_id", in, &out); err != nil {
		return ListIDPage{}, err
	}
	return out, nil
}

// errCursorLoop guards against a server that hands back a cursor already
// seen, which would page forever.
var errCursorLoop = errors.New("wecom user/list_id: the server repeated a cursor")

// ListUserIDPages calls fn with every page of user/list_id in order,
// following next_cursor until it is empty. It stops at fn's first error
// and returns it.
func (c *Client) ListUserIDPages(ctx context.Context, limit int, fn func([]DeptUser) error) error {
	seen := map[string]bool{}
	cursor := ""
	for {
		page, err := c.ListUserIDPage(ctx, cursor, limit)
		if err != nil {
			return err
		}
		if err := fn(page.DeptUser); err != nil {
			return err
		}
		if page.NextCursor == "" {
			return nil
		}
		if seen[page.NextCursor] {
			return errCursorLoop
		}
		seen[page.NextCursor] = true
		cursor = page.NextCursor
	}
}

// ListUserIDs returns every (userid, department) row of the corp: the
// member read open to a Contacts-Sync secret from a new IP.
func (c *Client) ListUserIDs(ctx context.Context, limit int) ([]DeptUser, error) {
	var all []DeptUser
	err := c.ListUserIDPages(ctx, limit, func(rows []DeptUser) error {
		all = append(all, rows...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}
