package bench

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// floorEnv, when set to a CSV path, makes the test binary the floor
// process: it decodes that GBK CSV and exits (see TestMain).
const floorEnv = "ORGSYNC_BENCH_FLOOR_CSV"

func TestMain(m *testing.M) {
	if path := os.Getenv(floorEnv); path != "" {
		n, err := decodeGBKCSV(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(n, "records")
		os.Exit(0)
	}
	code := m.Run()
	if emulator != nil && emulator.Process != nil {
		_ = emulator.Process.Kill()
		_ = emulator.Wait()
	}
	for _, dir := range cleanup {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// decodeGBKCSV is the floor: read every record of a GBK export with the
// standard decoders and keep none of them. No program that reads the
// export can take less.
func decodeGBKCSV(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(transform.NewReader(bufio.NewReaderSize(f, 64<<10), simplifiedchinese.GB18030.NewDecoder()))
	n := 0
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			return max(n-1, 0), nil // the header is no record
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// run is one child process's figures.
type run struct {
	wall, user, sys time.Duration
	maxRSS          int64 // bytes
}

func (r run) mb() float64 { return float64(r.maxRSS) / (1 << 20) }

// measure runs cmd with stdout to a file and returns its figures; the exit
// code must be 0.
func measure(b *testing.B, cmd *exec.Cmd, stdout string) run {
	b.Helper()
	f, err := os.Create(stdout)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return run{wall: wall, user: cmd.ProcessState.UserTime(), sys: cmd.ProcessState.SystemTime(), maxRSS: ru.Maxrss << 10}
}

// world is what every benchmark of a run shares: the binary, one company
// and one emulator, made once.
type world struct {
	bin, dir, config, employees string
	people                      int
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
	cleanup   []string
	emulator  *exec.Cmd
)

// people is the company size: ORGSYNC_BENCH_PEOPLE, else 100,000.
func people() int {
	if v, err := strconv.Atoi(os.Getenv("ORGSYNC_BENCH_PEOPLE")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

func getWorld(b *testing.B) *world {
	b.Helper()
	worldOnce.Do(func() { theWorld, worldErr = makeWorld(people()) })
	if worldErr != nil {
		b.Fatal(worldErr)
	}
	return theWorld
}

func makeWorld(n int) (*world, error) {
	dir, err := os.MkdirTemp("", "orgsync-bench-")
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, dir)
	w := &world{dir: dir, bin: filepath.Join(dir, "orgsync"), people: n}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", w.bin, "../cmd/orgsync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build orgsync: %v\n%s", err, out)
	}
	gen := filepath.Join(dir, "gencompany")
	if out, err := exec.Command("go", "build", "-o", gen, "../scripts/gencompany").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build gencompany: %v\n%s", err, out)
	}
	url, err := startEmulator(w.bin)
	if err != nil {
		return nil, err
	}
	co := filepath.Join(dir, "company")
	if out, err := exec.Command(gen, "-n", strconv.Itoa(n), "-seed", "1", "-out", co, "-wecom-url", url).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gencompany: %v\n%s", err, out)
	}
	w.config = filepath.Join(co, "orgsync.yaml")
	m, _ := filepath.Glob(filepath.Join(co, "day1", "employees_*.csv"))
	if len(m) != 1 {
		return nil, fmt.Errorf("gencompany wrote %v", m)
	}
	w.employees = m[0]
	return w, nil
}

// startEmulator runs an empty `orgsync wecom-emulator` with no rate limit
// for the rest of the benchmark binary's life and returns its URL.
func startEmulator(bin string) (string, error) {
	emulator = exec.Command(bin, "wecom-emulator", "--listen", "127.0.0.1:0", "--corp-id", "wwgencompany000001",
		"--secret", "orgsync-emulator-secret", "--rate-limit", "-1", "--rate-limit-hour", "-1", "--log-level", "error")
	out, err := emulator.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := emulator.Start(); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	url := regexp.MustCompile(`http://[0-9.:]+`).FindString(line)
	if url == "" {
		return "", fmt.Errorf("emulator printed %q", line)
	}
	return url, nil
}

// firstImport holds the last figures of each kind, for the ratios.
var firstImport = map[string]run{}

// BenchmarkPlanFirstImport is DESIGN §5's first-import plan through the
// real binary: a generated company (GBK export, department table) against
// an empty WeCom, so that everyone is a create. floor is a plain decode of
// the same export in a process of its own; text is `orgsync plan`, json
// `orgsync plan --output json`, each with stdout to a file. Each reports
// wall seconds, peak RSS and its ratio to the floor; json also its ratio
// to text (target ≤ 1.2) and its RSS above text's (target ≤ 50 MB).
// Targets for 100k on 2 cores: text ≤ 1.0 s and ≤ 200 MB.
func BenchmarkPlanFirstImport(b *testing.B) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"floor", nil},
		{"text", []string{"plan"}},
		{"json", []string{"plan", "--output", "json"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			w := getWorld(b)
			b.ResetTimer() // the build and the company are made once, untimed
			out := filepath.Join(w.dir, tc.name+".out")
			var sum run
			for i := 0; i < b.N; i++ {
				var cmd *exec.Cmd
				if tc.args == nil {
					cmd = exec.Command(os.Args[0])
					cmd.Env = append(os.Environ(), floorEnv+"="+w.employees)
				} else {
					cmd = exec.Command(w.bin, append(tc.args, "-c", w.config, "--log-level", "error")...)
				}
				r := measure(b, cmd, out)
				sum.wall += r.wall
				sum.user += r.user
				sum.sys += r.sys
				sum.maxRSS = max(sum.maxRSS, r.maxRSS)
			}
			b.StopTimer()
			checkOutput(b, tc.name, out, w.people)
			n := time.Duration(b.N)
			avg := run{wall: sum.wall / n, user: sum.user / n, sys: sum.sys / n, maxRSS: sum.maxRSS}
			firstImport[tc.name] = avg
			b.ReportMetric(avg.wall.Seconds(), "wall_s")
			b.ReportMetric((avg.user + avg.sys).Seconds(), "cpu_s")
			b.ReportMetric(avg.mb(), "peak_RSS_MB")
			if f, ok := firstImport["floor"]; ok && tc.name != "floor" {
				b.ReportMetric(avg.wall.Seconds()/f.wall.Seconds(), "x_floor_wall")
				b.ReportMetric(float64(avg.maxRSS)/float64(f.maxRSS), "x_floor_RSS")
			}
			if t, ok := firstImport["text"]; ok && tc.name == "json" {
				b.ReportMetric(avg.wall.Seconds()/t.wall.Seconds(), "x_text_wall")
				b.ReportMetric(avg.mb()-t.mb(), "RSS_over_text_MB")
			}
		})
	}
}

// checkOutput makes sure the run did what it is timed for.
func checkOutput(b *testing.B, kind, path string, people int) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 512)
	k, _ := io.ReadFull(f, head)
	head = head[:k]
	var ok bool
	switch kind {
	case "floor":
		ok = bytes.HasPrefix(head, []byte(strconv.Itoa(people)+" records\n"))
	case "text":
		ok = regexp.MustCompile(`plan: \d+ changes \(department_create \d+, user_create \d+\)`).Match(head)
	case "json": // compact, or indented as versions before streaming printed it
		flat := bytes.Join(bytes.Fields(head), nil)
		ok = bytes.HasPrefix(flat, []byte(`{"changes":{"department_creates":[{"op":"department_create"`))
	}
	if !ok {
		b.Fatalf("%s wrote %q", kind, head)
	}
}
