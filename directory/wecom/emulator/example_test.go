package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
)

// A test mounts the emulator on an httptest server and talks WeCom to it;
// the state and stats are then checked directly.
func Example() {
	emu, err := emulator.New(emulator.Options{
		CorpID:  "wwexample",
		Secrets: []emulator.SecretSpec{{Secret: "sync-secret", Role: emulator.RoleContactsSyncEdit}},
	}, zap.NewNop())
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()

	call := func(method, path, body string) map[string]any {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return out
	}
	tok := call("GET", "/cgi-bin/gettoken?corpid=wwexample&corpsecret=sync-secret", "")["access_token"].(string)
	fmt.Println(call("POST", "/cgi-bin/department/create?access_token="+tok, `{"name":"研发部","parentid":1,"id":2}`)["errmsg"])
	fmt.Println(call("POST", "/cgi-bin/user/create?access_token="+tok, `{"userid":"ZhangSan","name":"张三","mobile":"13800000000","department":[2]}`)["errmsg"])
	fmt.Println(call("POST", "/cgi-bin/user/create?access_token="+tok, `{"userid":"zhangsan","name":"张三","mobile":"13800000001"}`)["errcode"])

	st := emu.State()
	fmt.Println(len(st.Departments), st.Users[0].UserID, st.Users[0].Status)
	fmt.Println(emu.Stats().Errors["user/create"][60102])
	// Output:
	// created
	// created
	// 60102
	// 2 ZhangSan 4
	// 1
}
