package client

import (
	"context"
	"net/url"
	"strconv"
)

// Department is a department as department/list and department/get return it.
type Department struct {
	ID               int      `json:"id"`
	Name             string   `json:"name"`
	NameEn           string   `json:"name_en,omitempty"`
	DepartmentLeader []string `json:"department_leader,omitempty"`
	ParentID         int      `json:"parentid"` // 0 for the root (id 1)
	Order            uint32   `json:"order"`    // larger sorts first among siblings
}

// DepartmentRef is a row of department/simplelist: the only department
// read open to a Contacts-Sync secret from a new IP.
type DepartmentRef struct {
	ID       int    `json:"id"`
	ParentID int    `json:"parentid"`
	Order    uint32 `json:"order"`
}

// DepartmentCreate is the body of department/create. ID 0 lets WeCom
// assign one; a given ID must be > 1. ParentID is required: 0 is left out
// (WeCom answers 60004), never sent as a parent id.
type DepartmentCreate struct {
	Name     string  `json:"name"`
	NameEn   string  `json:"name_en,omitempty"`
	ParentID int     `json:"parentid,omitempty"`
	Order    *uint32 `json:"order,omitempty"`
	ID       int     `json:"id,omitempty"`
}

// DepartmentUpdate is the body of department/update: nil fields are left
// unchanged. Setting ParentID moves the department. ParentID pointing to 0
// is left out: no department can move under 0, and WeCom's reading of
// parentid 0 is UNCONFIRMED (not given, or 60004).
type DepartmentUpdate struct {
	ID       int     `json:"id"`
	Name     *string `json:"name,omitempty"`
	NameEn   *string `json:"name_en,omitempty"`
	ParentID *int    `json:"parentid,omitempty"`
	Order    *uint32 `json:"order,omitempty"`
}

// MarshalJSON encodes the body as documented on DepartmentUpdate.
func (d DepartmentUpdate) MarshalJSON() ([]byte, error) {
	type plain DepartmentUpdate
	p := plain(d)
	if p.ParentID != nil && *p.ParentID == 0 {
		p.ParentID = nil
	}
	return jsonBody(p)
}

// CreateDepartment creates a department and returns its id.
func (c *Client) CreateDepartment(ctx context.Context, d DepartmentCreate) (int, error) {
	var out struct {
		ID int `json:"id"`
	}
	if err := c.postJSON(ctx, "department/create", d, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// UpdateDepartment changes the non-nil fields of a department.
func (c *Client) UpdateDepartment(ctx context.Context, d DepartmentUpdate) error {
	return c.postJSON(ctx, "department/update", d, nil)
}

// DeleteDepartment deletes an empty department (60005: it has members,
// 60006: it has sub-departments, 60007: the root).
func (c *Client) DeleteDepartment(ctx context.Context, id int) error {
	return c.get(ctx, "department/delete", url.Values{"id": {strconv.Itoa(id)}}, nil)
}

func deptQuery(id int) url.Values {
	if id == 0 {
		return nil
	}
	return url.Values{"id": {strconv.Itoa(id)}}
}

// DepartmentSimpleList returns id, parent and order of department id and
// all its descendants; id 0 means the whole tree.
func (c *Client) DepartmentSimpleList(ctx context.Context, id int) ([]DepartmentRef, error) {
	var out struct {
		DepartmentID []DepartmentRef `json:"department_id"`
	}
	if err := c.get(ctx, "department/simplelist", deptQuery(id), &out); err != nil {
		return nil, err
	}
	return out.DepartmentID, nil
}

// ListDepartments returns department id and its descendants with details;
// id 0 means the whole tree. Restricted reads answer 48009 (*ConfigError).
func (c *Client) ListDepartments(ctx context.Context, id int) ([]Department, error) {
	var out struct {
		Department []Department `json:"department"`
	}
	if err := c.get(ctx, "department/list", deptQuery(id), &out); err != nil {
		return nil, err
	}
	return out.Department, nil
}

// GetDepartment returns one department. Restricted reads answer 48009.
func (c *Client) GetDepartment(ctx context.Context, id int) (*Department, error) {
	var out struct {
		Department Department `json:"department"`
	}
	if err := c.get(ctx, "department/get", url.Values{"id": {strconv.Itoa(id)}}, &out); err != nil {
		return nil, err
	}
	return &out.Department, nil
}

// DetailReadsAllowed reports whether this secret may read member and
// department details from this host (department/get of the root). A
// Contacts-Sync secret used from a new IP since 2022-08-15 may not (48009):
// a sync must then rely on its shadow state and the open reads
// (user/list_id, department/simplelist).
func (c *Client) DetailReadsAllowed(ctx context.Context) (bool, error) {
	_, err := c.GetDepartment(ctx, 1)
	switch {
	case err == nil:
		return true, nil
	case IsCode(err, CodeRestrictedRead):
		return false, nil
	default:
		return false, err
	}
}
