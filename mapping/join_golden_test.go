package mapping

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
)

// TestJoinGolden maps testdata/join (hr.csv joined with ad.csv by
// config.yaml) and compares the Org, problems, warnings, exclusions and
// each person's field provenance with testdata/join/golden.json.
func TestJoinGolden(t *testing.T) {
	dir := filepath.Join("testdata", "join")
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Join    config.JoinSpec `yaml:"join"`
		Mapping yaml.Node       `yaml:"mapping"`
	}
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	cfg, err := Decode(&root.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Join = &root.Join
	m, err := Compile(withFiles(cfg))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	hr, ad := readCSV(t, filepath.Join(dir, "hr.csv")), readCSV(t, filepath.Join(dir, "ad.csv"))
	ad.Source = "ad"
	for i := range ad.Records {
		ad.Records[i].Origin.Source = "ad"
	}
	batches := []*connectors.Batch{hr, ad}
	if err := m.Probe(batches); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	res := m.MapResult(batches)
	g := struct {
		Org        model.Org           `json:"org"`
		Problems   []goldenProblem     `json:"problems"`
		Warnings   []goldenWarning     `json:"warnings"`
		Excluded   []string            `json:"excluded"`
		Provenance map[string][]string `json:"provenance"`
	}{Org: res.Org, Problems: []goldenProblem{}, Warnings: []goldenWarning{}, Excluded: []string{}, Provenance: map[string][]string{}}
	for _, p := range res.Rejected {
		g.Problems = append(g.Problems, goldenProblem{Error: p.Error(), RecordError: p})
	}
	for _, w := range res.Warnings {
		g.Warnings = append(g.Warnings, goldenWarning{Text: w.String(), Warning: w})
	}
	for _, x := range res.Excluded {
		g.Excluded = append(g.Excluded, x.String())
	}
	for _, p := range res.Org.People {
		g.Provenance[p.Key] = res.Join.Explain(p.Key)
	}
	buf := indentedJSON(t, g)
	gp := filepath.Join(dir, "golden.json")
	if *update {
		if err := os.WriteFile(gp, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(gp)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs (run with -update and review the diff):\n%s", gp, diffLines(string(want), buf.String()))
	}
	if _, err := res.Org.Index(); err != nil {
		t.Errorf("mapped Org is not consistent: %v", err)
	}
}
