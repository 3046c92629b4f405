package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/orgsync/orgsync/internal/benchmem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/state"
)

// BenchmarkPrepareQuietNight measures DESIGN §5's planning target: a night
// with no changes for a company of 100k people: read a 100k-row GBK CSV,
// map it, read WeCom (simplelist + list_id over HTTP from the emulator),
// load the 100k-member shadow and diff, which must plan nothing.
// Targets on 2 cores: ≤ 1.0 s and ≤ 200 MB RSS.
//
// It reports the in-process Prepare (ns/op, peak_heap_MB) and then the
// same night as an operator runs it: `orgsync plan` of the real binary as
// a child process, its wall time and peak RSS (bin_wall_s, bin_RSS_MB).
//
// ORGSYNC_BENCH_PEOPLE=1000000 measures the 1M target (≤ 10 s, ≤ 1.5 GB).
// ORGSYNC_BENCH_DIR=DIR keeps the company, the state and wecom.json there,
// to profile the binary by hand afterwards (see BENCHMARKS.md).
func BenchmarkPrepareQuietNight(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("ORGSYNC_BENCH_PEOPLE")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	if keep := os.Getenv("ORGSYNC_BENCH_DIR"); keep != "" {
		if err := os.MkdirAll(keep, 0o700); err != nil {
			b.Fatal(err)
		}
		dir = keep
		_ = os.Remove(filepath.Join(dir, "state.db"))
	}
	writeBenchCSV(b, filepath.Join(dir, "people.csv"), n)

	// Plan once against an empty WeCom to learn what apply would write,
	// then seed WeCom and the shadow with exactly that.
	emu0, _ := emulator.New(emulator.Options{CorpID: testCorp, RateLimitPerMinute: -1,
		Secrets: []emulator.SecretSpec{{Secret: testSecret, Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	srv0 := httptest.NewServer(emu0)
	e := benchEngine(b, dir, srv0.URL)
	first, err := e.Prepare(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	srv0.Close()
	if len(first.Changes.UserCreates) != n {
		b.Fatalf("first plan creates %d", len(first.Changes.UserCreates))
	}
	dataFile := filepath.Join(dir, "wecom.json")
	seedBench(b, e.Store(), first, dataFile)
	e.Close()

	// The emulator runs as its own process so that its 100k users do not
	// count in orgsync's heap.
	url, bin := startEmulatorProcess(b, dataFile)
	e = benchEngine(b, dir, url)

	b.ReportAllocs()
	b.ResetTimer()
	peak := benchmem.Peak(func() {
		for i := 0; i < b.N; i++ {
			p, err := e.Prepare(context.Background(), 0)
			if err != nil {
				b.Fatal(err)
			}
			if !p.Changes.Empty() {
				b.Fatalf("a quiet night plans %v", p.Changes.Counts())
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(benchmem.MB(peak), "peak_heap_MB")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "people/s")

	e.Close() // the binary takes the store's lock
	cmd := exec.Command(bin, "plan", "-c", filepath.Join(dir, "orgsync.yaml"), "--log-level", "error")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	hwm := watchHWM(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("orgsync plan: %v\n%s", err, out.String())
	}
	wall := time.Since(start)
	rss := <-hwm
	if !bytes.Contains(out.Bytes(), []byte("plan: no changes")) {
		b.Fatalf("a quiet night's plan printed %q", out.String())
	}
	b.ReportMetric(wall.Seconds(), "bin_wall_s")
	b.ReportMetric((cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(), "bin_cpu_s")
	b.ReportMetric(float64(rss)/1024, "bin_RSS_MB")
}

// watchHWM samples a process's peak RSS (VmHWM in /proc/PID/status, KiB)
// every 2 ms until it exits, and then sends the last value read. The
// child's rusage can't be used here: Go starts children with vfork, and
// Linux carries the parent's peak RSS (this benchmark's, with its 100k
// people) over the exec into the child's ru_maxrss.
func watchHWM(pid int) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		var last int64
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			b, err := os.ReadFile(path)
			i := bytes.Index(b, []byte("VmHWM:"))
			if err != nil || i < 0 { // gone (or a zombie, which has no memory left)
				ch <- last
				return
			}
			f := bytes.Fields(b[i+len("VmHWM:"):])
			if len(f) > 0 {
				if v, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
					last = max(last, v)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return ch
}

func writeBenchCSV(b *testing.B, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(simplifiedchinese.GBK.NewEncoder().Writer(f))
	fmt.Fprintln(w, "工号,姓名,部门,手机,邮箱,职位,状态,直属上级工号")
	for i := 0; i < n; i++ {
		leader := ""
		if i%50 != 0 {
			leader = fmt.Sprintf("E%07d", i-i%50)
		}
		fmt.Fprintf(w, "E%07d,员工%d,总部/事业部%02d/部门%03d,1380%07d,user%07d@example.com,工程师,在职,%s\n",
			i, i, i%20, i%200, i, i, leader)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// benchEngine opens an engine on the benchmark's company and WeCom, with
// the config also written to dir/orgsync.yaml for the binary.
func benchEngine(b *testing.B, dir, url string) *Engine {
	yaml := []byte(fmt.Sprintf(`sources:
  - name: hr
    type: csv
    config: {path: %[1]s/people.csv, settle: 0s, encoding: gbk}
mapping:
  key: 工号
  user:
    userid: lower(工号)
    name: 姓名
    department: 部门
    mobile: 手机
    email: 邮箱
    position: 职位
    enabled: 状态 != "离职"
    direct_leader: 直属上级工号
target:
  config: {base_url: %[2]s, corp_id: %[3]s, secret: %[4]s}
state: {path: %[1]s/state.db}
`, dir, url, testCorp, testSecret))
	path := filepath.Join(dir, "orgsync.yaml")
	if err := os.WriteFile(path, yaml, 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse(yaml, path)
	if err != nil {
		b.Fatal(err)
	}
	e, err := Build(cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e
}

// seedBench writes the shadow and an emulator data file holding what
// applying the first plan would have made.
func seedBench(b *testing.B, st *state.Store, first *Prepared, dataFile string) {
	ids := map[string]int{}
	var muts []state.Mutation
	type dept struct {
		ID       int    `json:"id"`
		Name     string `json:"name"`
		ParentID int    `json:"parentid"`
		Order    uint32 `json:"order"`
	}
	type user struct {
		UserID       string   `json:"userid"`
		Name         string   `json:"name"`
		Department   []int    `json:"department"`
		Mobile       string   `json:"mobile"`
		Email        string   `json:"email"`
		Position     string   `json:"position"`
		DirectLeader []string `json:"direct_leader"`
		Status       int      `json:"status"`
		Enable       int      `json:"enable"`
	}
	data := struct {
		Version     int    `json:"version"`
		Departments []dept `json:"departments"`
		Users       []user `json:"users"`
	}{Version: 1, Departments: []dept{{ID: 1, Name: "Emulated Corp"}}}
	for _, d := range first.Changes.DeptCreates {
		a := *d.After
		a.ID = d.ID
		a.ParentID = 1
		if a.ParentKey != "" {
			a.ParentID = ids[a.ParentKey]
		}
		ids[a.Key] = a.ID
		muts = append(muts, state.Mutation{PutDept: &state.Dept{Department: a}})
		data.Departments = append(data.Departments, dept{ID: a.ID, Name: a.Name, ParentID: a.ParentID, Order: a.Order})
	}
	for _, u := range first.Changes.UserCreates {
		p := *u.After
		muts = append(muts, state.Mutation{PutMember: &state.Member{Person: p}})
		var ds []int
		for _, k := range p.Departments {
			ds = append(ds, ids[k])
		}
		data.Users = append(data.Users, user{UserID: p.UserID, Name: p.Name, Department: ds, Mobile: p.Mobile,
			Email: p.Email, Position: p.Position, DirectLeader: p.DirectLeaders, Status: 4, Enable: 1})
	}
	if err := st.ApplyAll(context.Background(), muts); err != nil {
		b.Fatal(err)
	}
	j, err := json.Marshal(data)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dataFile, j, 0o600); err != nil {
		b.Fatal(err)
	}
}

// startEmulatorProcess builds orgsync and runs `orgsync wecom-emulator` on
// a free port with dataFile, returning its URL and the binary.
func startEmulatorProcess(b *testing.B, dataFile string) (url, bin string) {
	bin = filepath.Join(b.TempDir(), "orgsync")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/orgsync").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "wecom-emulator", "--listen", "127.0.0.1:0", "--corp-id", testCorp,
		"--secret", testSecret, "--data", dataFile, "--rate-limit", "-1", "--rate-limit-hour", "-1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("emulator: %v", err)
	}
	url = regexp.MustCompile(`http://[0-9.:]+`).FindString(line)
	if url == "" {
		b.Fatalf("emulator printed %q", line)
	}
	return url, bin
}
