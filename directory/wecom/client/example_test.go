package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"go.uber.org/zap"

	wecom "github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
)

// A client pointed at the emulator: create a department and a member, then
// read back what a Contacts-Sync secret may always read.
func Example() {
	emu, _ := emulator.New(emulator.Options{
		CorpID:  "wwexample",
		Secrets: []emulator.SecretSpec{{Secret: "contacts-sync-secret", Role: emulator.RoleContactsSyncEdit}},
	}, zap.NewNop())
	srv := httptest.NewServer(emu)
	defer srv.Close()

	c, err := wecom.New(wecom.Config{BaseURL: srv.URL, CorpID: "wwexample", Secret: "contacts-sync-secret"}, zap.NewNop())
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	id, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "研发部", ParentID: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = c.CreateUser(ctx, wecom.UserCreate{UserID: "zhangsan", Name: "张三", Mobile: "+86 13800000000", Department: []int{id}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A second create of the same (case-insensitive) userid: branch on the code.
	err = c.CreateUser(ctx, wecom.UserCreate{UserID: "ZhangSan", Name: "张三", Mobile: "+86 13800000001"})
	fmt.Println("exists:", wecom.IsCode(err, wecom.CodeUserExists))

	rows, _ := c.ListUserIDs(ctx, wecom.MaxListIDLimit)
	fmt.Println(rows)
	// Output:
	// exists: true
	// [{zhangsan 2}]
}
