package mapping_test

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/model"
)

func Example() {
	var node yaml.Node
	_ = yaml.Unmarshal([]byte(`
key: 工号
user:
  userid: lower(工号)
  name: trim(姓名)
  department: 部门
  mobile: e164(手机, "CN")
  enabled: 状态 != "离职"
  direct_leader: 直属上级工号
`), &node)
	cfg, err := mapping.Decode(&node)
	if err != nil {
		panic(err)
	}
	m, err := mapping.Compile(cfg)
	if err != nil {
		panic(err)
	}
	header := []string{"工号", "姓名", "部门", "手机", "状态", "直属上级工号"}
	rec := func(line int, vals ...any) connectors.Record {
		return connectors.Record{Origin: model.Origin{Source: "hr", Locator: fmt.Sprintf("employees.csv:%d", line)}, Names: header, Values: vals}
	}
	org, problems := m.Map([]*connectors.Batch{{Source: "hr", Complete: true, Records: []connectors.Record{
		rec(2, "A1", "张三", "总部/研发中心", "+86-138 0013 8000", "在职", ""),
		rec(3, "A2", " 李四 ", "总部/研发中心/后端组", "13800138001", "离职", "A1"),
		rec(4, "A3", "王五", "总部", "12x", "在职", "A1"),
	}}})
	for _, p := range org.People {
		fmt.Println(p.UserID, p.Name, p.Mobile, p.Departments, p.Enabled, p.DirectLeaders)
	}
	for _, d := range org.Departments {
		fmt.Printf("%s (parent %q)\n", d.Key, d.ParentKey)
	}
	for _, e := range problems {
		fmt.Println(e)
	}
	// Output:
	// a1 张三 13800138000 [总部/研发中心] true []
	// a2 李四 13800138001 [总部/研发中心/后端组] false [a1]
	// 总部 (parent "")
	// 总部/研发中心 (parent "总部")
	// 总部/研发中心/后端组 (parent "总部/研发中心")
	// hr:employees.csv:4: mobile "12x": may hold only digits, spaces and + - ( ) . (rule e164(手机, "CN"))
}
