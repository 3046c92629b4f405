package client

import "context"

// Email types for UserIDByEmail.
const (
	EmailCompany  = 1 // biz_mail
	EmailPersonal = 2 // email
)

// UserIDByMobile returns the userid of the member with this mobile
// (user/getuserid); an unknown mobile is errcode 46004. WeCom blocks the API
// for a day when failed lookups exceed 20% of the headcount, so callers must
// bound how many unknown numbers they try.
func (c *Client) UserIDByMobile(ctx context.Context, mobile string) (string, error) {
	var out struct {
		UserID string `json:"userid"`
	}
	err := c.postJSON(ctx, "user/getuserid", struct {
		Mobile string `json:"mobile"`
	}{mobile}, &out)
	return out.UserID, err
}

// UserIDByEmail returns the userid of the member with this address
// (user/get_userid_by_email); emailType is EmailCompany or EmailPersonal.
func (c *Client) UserIDByEmail(ctx context.Context, email string, emailType int) (string, error) {
	var out struct {
		UserID string `json:"userid"`
	}
	err := c.postJSON(ctx, "user/get_userid_by_email", struct {
		Email     string `json:"email"`
		EmailType int    `json:"email_type"`
	}{email, emailType}, &out)
	return out.UserID, err
}
