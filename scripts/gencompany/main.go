// Command gencompany writes a realistic, deterministic company as the HR
// exports orgsync reads: GBK CSV as Excel on Chinese Windows saves them, an
// employee export and a department table, for the benchmarks and for trying
// orgsync at scale (DESIGN §5).
//
//	go run ./scripts/gencompany -n 100000 -out /tmp/co              # day 1 only
//	go run ./scripts/gencompany -n 100000 -days 3 -out /tmp/co      # day1/, day2/, day3/
//	go run ./scripts/gencompany -n 100000 -out /tmp/co -wecom-url http://127.0.0.1:8960
//
// The company: CJK names (common surnames weighted, one- and two-character
// given names), a department tree six levels deep (总部 → 事业群 → 事业部 →
// 中心 → 部 → 组) with about -team-size people per team, a head in every
// department who is the direct leader of its members (and reports to the
// head of the parent), mobiles in the formats HR systems export (13800138000,
// 138 0013 8000, +86-13800138000), e-mail in mixed case, and about 0.5% of
// rows already marked 离职.
//
// Each further day is the previous one with about 3% churn: 1% leave (half
// of them as rows gone, half marked 离职), 1% are hired, 0.5% move to
// another team, 0.5% change position or mobile; one department in a
// thousand is renamed (same code, so a rename) and new teams appear for the
// hires.
//
// Output in -out: dayN/departments.csv (部门编码,部门名称,上级部门编码,排序) and
// dayN/employees_YYYYMMDD.csv (工号,姓名,部门,部门编码,职位,手机,邮箱,性别,状态,
// 直属上级工号), and with -wecom-url an orgsync.yaml reading the last day.
// The same -n, -seed and -days always write the same bytes.
package main

import (
	"bufio"
	"encoding/csv"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func main() {
	var o options
	flag.IntVar(&o.people, "n", 100_000, "people on day 1 (10000, 100000, 1000000 are the benchmark sizes)")
	flag.IntVar(&o.days, "days", 1, "daily exports to write (day 2 on: about 3% churn a day)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed writes the same files")
	flag.IntVar(&o.teamSize, "team-size", 18, "average people per team (the leaf departments)")
	flag.StringVar(&o.out, "out", "", "output folder (created); required")
	flag.StringVar(&o.wecomURL, "wecom-url", "", "also write out/orgsync.yaml for a WeCom (or emulator) at this URL, reading the last day")
	flag.StringVar(&o.secret, "secret", "orgsync-emulator-secret", "with -wecom-url: the WeCom secret written into orgsync.yaml")
	flag.Parse()
	if o.out == "" || o.people < 1 || o.days < 1 || o.teamSize < 1 {
		fmt.Fprintln(os.Stderr, "usage: gencompany -n PEOPLE -out DIR [-days N] [-seed S] [-team-size T] [-wecom-url URL]")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "gencompany:", err)
		os.Exit(1)
	}
}

type options struct {
	people, days, teamSize int
	seed                   uint64
	out, wecomURL, secret  string
}

// day1 is the date of the first export; day N is N-1 days later.
var day1 = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func run(o options) error {
	c := newCompany(o.seed, o.people, o.teamSize)
	var last string
	for d := 1; d <= o.days; d++ {
		if d > 1 {
			c.churn()
		}
		dir := filepath.Join(o.out, fmt.Sprintf("day%d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := c.writeDepartments(filepath.Join(dir, "departments.csv")); err != nil {
			return err
		}
		last = filepath.Join(dir, "employees_"+day1.AddDate(0, 0, d-1).Format("20060102")+".csv")
		if err := c.writeEmployees(last); err != nil {
			return err
		}
	}
	if o.wecomURL != "" {
		abs, err := filepath.Abs(filepath.Dir(last))
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(o.out, "orgsync.yaml"), []byte(Config(abs, o.wecomURL, o.secret, filepath.Join(o.out, "state.db"))), 0o644)
	}
	return nil
}

// Config is an orgsync config that reads the exports in dir (the newest
// employees_*.csv and departments.csv) and syncs into WeCom at url.
func Config(dir, url, secret, statePath string) string {
	return fmt.Sprintf(`# written by scripts/gencompany
sources:
  - name: hr
    type: csv
    config:
      path: %[1]s/employees_*.csv
      encoding: gbk
      settle: 0s
mapping:
  key: 工号
  user:
    userid: lower(工号)
    name: trim(姓名)
    department: 部门编码
    position: 职位
    mobile: 手机
    email: lower(邮箱)
    gender: 性别
    enabled: 状态 != "离职"
    direct_leader: 直属上级工号
  departments:
    from: table
    table:
      file: %[1]s/departments.csv
      code: 部门编码
      name: 部门名称
      parent: 上级部门编码
      order: int(排序)
target:
  type: wecom
  config:
    base_url: %[2]s
    corp_id: wwgencompany000001
    secret: %[3]s
    root_department_id: 1
policy:
  mode: sync
  leavers: disable
  adopt: [userid]
  max_disables: 5%%
  max_deletes: 1000
state:
  path: %[4]s
`, dir, url, secret, statePath)
}

type dept struct {
	code, name string
	parent     int // index in company.depts; -1 for the root
	level      int // 1 = 总部 … 6 = 组
	order      int
	head       int // index in company.people; -1 while empty
	kids       int
}

type person struct {
	emp, name, position, mobile, email, gender string
	dept                                       int
	left                                       bool // 状态 离职
	gone                                       bool // row no longer exported
}

type company struct {
	r       *rand.Rand
	depts   []dept
	people  []person
	teams   []int // indices of the level-6 departments
	nextEmp int
	mobiles int
	// siblingNames keeps department names unique among siblings, as WeCom
	// requires.
	siblingNames map[int]map[string]bool
}

var (
	// surnames, most common first; pick weights them towards the front.
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉文辉晓东志海燕红梅丹思远子涵雨桐浩然一诺欣怡梓轩佳宇航俊峰鑫淼琳璐瑶婷颖倩雪晨阳鹏飞博睿泽昊天翔凯旭")
	// prefixes for department names, by level (2 … 6).
	prefixes = [][]string{
		2: strings.Fields("互动娱乐 云与智慧产业 技术工程 企业发展 平台与内容 金融科技 智能制造 海外业务 零售 物流"),
		3: strings.Fields("游戏 视频 音乐 文学 广告 支付 理财 保险 地图 搜索 浏览器 安全 硬件 汽车 教育 医疗 政务 电商 本地生活 社交"),
		4: strings.Fields("研发 产品 运营 设计 市场 销售 质量 数据 基础架构 客户成功 商务拓展 战略"),
		5: strings.Fields("华北 华东 华南 华中 西南 西北 东北 后台 前端 客户端 算法 测试 运维 增长 内容 渠道"),
		6: strings.Fields("一 二 三 四 五 六 七 八 九 十 甲 乙 丙 丁 星辰 北斗 启明 天枢 开阳 摇光"),
	}
	suffixes  = []string{1: "总部", 2: "事业群", 3: "事业部", 4: "中心", 5: "部", 6: "组"}
	positions = [][]string{
		1: {"总裁", "副总裁", "总裁办主任"},
		2: {"事业群总裁", "事业群副总裁", "战略总监"},
		3: {"事业部总经理", "高级总监", "总监"},
		4: {"中心总经理", "总监", "高级经理"},
		5: {"部门经理", "高级经理", "经理", "项目经理"},
		6: {"组长", "高级工程师", "工程师", "产品经理", "设计师", "运营专员", "测试工程师", "数据分析师", "销售代表", "客户经理", "实习生"},
	}
)

// newCompany builds day 1: a six-level tree sized for about n/teamSize
// teams, then n people, a head for every department first.
func newCompany(seed uint64, n, teamSize int) *company {
	c := &company{r: rand.New(rand.NewPCG(seed, 0x6f726773796e63)), siblingNames: map[int]map[string]bool{}}
	teams := max(1, n/teamSize)
	// fan-out per level so that the product is about teams: the same for
	// levels 2–6, with ±40% jitter per department.
	f := max(1.0, math.Pow(float64(teams), 1.0/5))
	root := c.addDept(-1, 1)
	c.grow(root, f)
	for len(c.teams) < teams/2 { // a small n can come out short: add teams
		c.grow(c.depts[c.teams[c.r.IntN(len(c.teams))]].parent, 1)
	}
	// heads first, top-down, so everyone's leader exists; then the rest of
	// the company into the teams, about teamSize each.
	for i := range c.depts {
		if len(c.people) < n {
			c.hire(i)
		}
	}
	for len(c.people) < n {
		c.hire(c.teams[c.r.IntN(len(c.teams))])
	}
	for i := range c.people {
		if c.r.IntN(200) == 0 {
			c.people[i].left = true
		}
	}
	return c
}

// grow adds children below d down to level 6.
func (c *company) grow(d int, f float64) {
	lvl := c.depts[d].level
	if lvl == 6 {
		return
	}
	k := int(f*(0.6+0.8*c.r.Float64()) + 0.5)
	k = max(k, 1)
	for range k {
		ch := c.addDept(d, lvl+1)
		c.grow(ch, f)
	}
}

func (c *company) addDept(parent, level int) int {
	name := "总部"
	if parent >= 0 {
		name = c.uniqueName(parent, level)
		c.depts[parent].kids++
	}
	i := len(c.depts)
	order := 100000 - i
	if parent >= 0 {
		order = 1000 - c.depts[parent].kids*10
	}
	c.depts = append(c.depts, dept{code: fmt.Sprintf("D%06d", i+1), name: name, parent: parent, level: level, order: order, head: -1})
	if level == 6 {
		c.teams = append(c.teams, i)
	}
	return i
}

func (c *company) uniqueName(parent, level int) string {
	seen := c.siblingNames[parent]
	if seen == nil {
		seen = map[string]bool{}
		c.siblingNames[parent] = seen
	}
	pool := prefixes[level]
	for try := 0; ; try++ {
		name := pool[c.r.IntN(len(pool))] + suffixes[level]
		if try > 2*len(pool) {
			name = pool[c.r.IntN(len(pool))] + strconv.Itoa(try) + suffixes[level]
		}
		if !seen[name] {
			seen[name] = true
			return name
		}
	}
}

func (c *company) pick(runes []rune) string {
	// squared uniform: the front of the list (the common characters) is
	// picked more often, as in a real population.
	u := c.r.Float64()
	return string(runes[int(u*u*float64(len(runes)))])
}

func (c *company) newName() string {
	s := c.pick(surnames)
	if c.r.IntN(100) == 0 {
		s = "欧阳"
	}
	g := c.pick(given)
	if c.r.IntN(10) < 7 {
		g += c.pick(given)
	}
	return s + g
}

// newMobile is a mobile number no one else in the company has had.
func (c *company) newMobile() string {
	c.mobiles++
	s := strconv.Itoa(13000000000 + (c.mobiles*7919)%900000000)
	switch c.r.IntN(10) {
	case 0:
		return s[:3] + " " + s[3:7] + " " + s[7:]
	case 1:
		return "+86-" + s
	default:
		return s
	}
}

// hire adds one person to department d (its head if it has none).
func (c *company) hire(d int) int {
	c.nextEmp++
	i := len(c.people)
	lvl := c.depts[d].level
	pos := positions[lvl][c.r.IntN(len(positions[lvl]))]
	if c.depts[d].head < 0 {
		c.depts[d].head = i
		pos = positions[lvl][0]
	} else if lvl < 6 {
		pos = "助理"
	}
	email := fmt.Sprintf("user%07d@corp.example.com", c.nextEmp)
	if c.r.IntN(3) == 0 {
		email = fmt.Sprintf("User%07d@Corp.Example.COM", c.nextEmp)
	}
	gender := "男"
	if c.r.IntN(2) == 0 {
		gender = "女"
	}
	c.people = append(c.people, person{
		emp: fmt.Sprintf("E%07d", c.nextEmp), name: c.newName(), position: pos,
		mobile: c.newMobile(), email: email, gender: gender, dept: d,
	})
	return i
}

// churn turns today into tomorrow: about 3% of the people change.
func (c *company) churn() {
	n := 0
	var active []int
	for i, p := range c.people {
		if !p.gone {
			n++
			if !p.left && c.depts[p.dept].head != i {
				active = append(active, i)
			}
		}
	}
	c.r.Shuffle(len(active), func(i, j int) { active[i], active[j] = active[j], active[i] })
	take := func(k int) []int {
		k = min(k, len(active))
		l := active[:k]
		active = active[k:]
		return l
	}
	for j, i := range take(n / 100) { // leavers
		if j%2 == 0 {
			c.people[i].gone = true
		} else {
			c.people[i].left = true
		}
	}
	for _, i := range take(n / 200) { // movers
		c.people[i].dept = c.teams[c.r.IntN(len(c.teams))]
	}
	for j, i := range take(n / 200) { // updates
		if j%2 == 0 {
			lvl := c.depts[c.people[i].dept].level
			c.people[i].position = positions[lvl][1+c.r.IntN(len(positions[lvl])-1)]
		} else {
			c.people[i].mobile = c.newMobile()
		}
	}
	for range max(1, len(c.depts)/1000) { // renames
		d := 1 + c.r.IntN(len(c.depts)-1)
		delete(c.siblingNames[c.depts[d].parent], c.depts[d].name)
		c.depts[d].name = c.uniqueName(c.depts[d].parent, c.depts[d].level)
	}
	hires := n / 100
	for range max(1, hires/(4*18)) { // new teams for some of the hires
		var p int
		for p = c.r.IntN(len(c.depts)); c.depts[p].level != 5; p = c.r.IntN(len(c.depts)) {
		}
		c.hire(c.addDept(p, 6))
		hires--
	}
	for range hires {
		c.hire(c.teams[c.r.IntN(len(c.teams))])
	}
}

func (c *company) path(d int) string {
	var parts []string
	for ; d >= 0; d = c.depts[d].parent {
		parts = append(parts, c.depts[d].name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

// leader is the 直属上级工号 of person i: the head of their department, or
// for a head the head of the parent department.
func (c *company) leader(i int) string {
	d := c.people[i].dept
	for d >= 0 {
		h := c.depts[d].head
		if h >= 0 && h != i && !c.people[h].gone {
			return c.people[h].emp
		}
		d = c.depts[d].parent
	}
	return ""
}

// gbkCSV writes CSV rows in GBK with CRLF line ends, as Excel does.
type gbkCSV struct {
	f *os.File
	b *bufio.Writer
	w *csv.Writer
}

func createGBK(path string) (*gbkCSV, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	b := bufio.NewWriterSize(simplifiedchinese.GBK.NewEncoder().Writer(f), 1<<16)
	w := csv.NewWriter(b)
	w.UseCRLF = true
	return &gbkCSV{f: f, b: b, w: w}, nil
}

func (g *gbkCSV) close() error {
	g.w.Flush()
	if err := g.w.Error(); err != nil {
		g.f.Close()
		return err
	}
	if err := g.b.Flush(); err != nil {
		g.f.Close()
		return err
	}
	return g.f.Close()
}

func (c *company) writeDepartments(path string) error {
	g, err := createGBK(path)
	if err != nil {
		return err
	}
	_ = g.w.Write([]string{"部门编码", "部门名称", "上级部门编码", "排序"})
	for _, d := range c.depts {
		parent := ""
		if d.parent >= 0 {
			parent = c.depts[d.parent].code
		}
		_ = g.w.Write([]string{d.code, d.name, parent, strconv.Itoa(d.order)})
	}
	return g.close()
}

func (c *company) writeEmployees(path string) error {
	g, err := createGBK(path)
	if err != nil {
		return err
	}
	_ = g.w.Write([]string{"工号", "姓名", "部门", "部门编码", "职位", "手机", "邮箱", "性别", "状态", "直属上级工号"})
	paths := make([]string, len(c.depts))
	for i := range c.depts {
		paths[i] = c.path(i)
	}
	for i, p := range c.people {
		if p.gone {
			continue
		}
		status := "在职"
		if p.left {
			status = "离职"
		}
		_ = g.w.Write([]string{p.emp, p.name, paths[p.dept], c.depts[p.dept].code, p.position, p.mobile, p.email, p.gender, status, c.leader(i)})
	}
	return g.close()
}
