package mapping_test

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/model"
)

// A join: HR decides who exists and gives names; AD gives account names
// and mail where it has them.
func Example_join() {
	var root struct {
		Join    config.JoinSpec `yaml:"join"`
		Mapping yaml.Node       `yaml:"mapping"`
	}
	_ = yaml.Unmarshal([]byte(`
join:
  primary: hr
  on: {hr: 工号, ad: employeeID}
mapping:
  key: hr.工号
  user:
    userid: lower(ad.sAMAccountName ?? hr.工号)
    name: hr.姓名
    email: ad.mail ?? hr.邮箱
`), &root)
	cfg, err := mapping.Decode(&root.Mapping)
	if err != nil {
		panic(err)
	}
	cfg.Join = &root.Join
	m, err := mapping.Compile(cfg)
	if err != nil {
		panic(err)
	}
	batch := func(source string, names []string, rows ...[]any) *connectors.Batch {
		b := &connectors.Batch{Source: source, Complete: true}
		for i, vals := range rows {
			b.Records = append(b.Records, connectors.Record{Origin: model.Origin{Source: source, Locator: fmt.Sprintf("%s.csv:%d", source, i+2)}, Names: names, Values: vals})
		}
		return b
	}
	res := m.MapResult([]*connectors.Batch{
		batch("hr", []string{"工号", "姓名", "邮箱"}, []any{"E1", "张三", "zs@hr.example"}, []any{"E2", "李四", "ls@hr.example"}),
		batch("ad", []string{"employeeID", "sAMAccountName", "mail"}, []any{"e1", "zhang.san", "zhang.san@corp.example"}, []any{"E9", "svc.backup", ""}),
	})
	for _, p := range res.Org.People {
		fmt.Println(p.Key, p.UserID, p.Name, p.Email)
	}
	for _, w := range res.Warnings {
		fmt.Println(w)
	}
	for _, l := range res.Join.Explain("E1")[3:5] {
		fmt.Println(l)
	}
	// Output:
	// E1 zhang.san 张三 zhang.san@corp.example
	// E2 e2 李四 ls@hr.example
	// ad:ad.csv:3: join_key "E9": no hr record has this join key: not created (who exists is decided by hr) (rule employeeID)
	//   key: from hr (rule hr.工号)
	//   userid: from ad (rule lower(ad.sAMAccountName ?? hr.工号))
}
