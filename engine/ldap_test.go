package engine

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/testservers"
)

// TestLDAPSourceEndToEnd syncs people from a real slapd (OU paths become
// departments, manager DNs become direct leaders) together with a CSV
// source, then shows that a dead LDAP server or a wrong password holds every
// disable of the LDAP people while the CSV source's changes go ahead.
func TestLDAPSourceEndToEnd(t *testing.T) {
	const base = "ou=people,dc=example,dc=test"
	var seed testservers.LDIF
	for _, ou := range [][2]string{{"研发中心", "ou=研发中心,"}, {"后端组", "ou=后端组,ou=研发中心,"}, {"销售部", "ou=销售部,"}} {
		seed.Entry(ou[1]+base, "objectClass", "organizationalUnit", "ou", ou[0])
	}
	person := func(uid, cn, ou, manager string, n int) {
		attrs := []string{"objectClass", "inetOrgPerson", "uid", uid, "cn", cn, "sn", cn[:3],
			"mail", uid + "@example.test", "mobile", fmt.Sprintf("1390000%04d", n)}
		if manager != "" {
			attrs = append(attrs, "manager", "uid="+manager+",ou=销售部,"+base)
		}
		seed.Entry("uid="+uid+","+ou+base, attrs...)
	}
	person("boss", "王总", "ou=销售部,", "", 1)
	for i := 1; i <= 4; i++ {
		person(fmt.Sprintf("dev%d", i), fmt.Sprintf("开发%d", i), "ou=后端组,ou=研发中心,", "boss", 10+i)
		person(fmt.Sprintf("rep%d", i), fmt.Sprintf("销售%d", i), "ou=销售部,", "boss", 20+i)
	}
	s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed.String()})

	emu, err := emulator.New(emulator.Options{CorpID: testCorp, RestrictedReads: true,
		Secrets: []emulator.SecretSpec{{Secret: testSecret, Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	must(t, err)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "contractors.csv"),
		[]byte("uid,cn,mail,mobile,ou_path,manager_key\nc1,外包1,c1@example.test,13600000001,外包,\nc2,外包2,c2@example.test,13600000002,外包,\n"), 0o644))
	write := func(password string) string {
		path := filepath.Join(dir, "orgsync.yaml")
		must(t, os.WriteFile(path, []byte(fmt.Sprintf(`sources:
  - name: directory
    type: ldap
    config:
      url: %[1]s
      bind_dn: %[2]s
      bind_password: %[3]s
      base_dn: %[4]s
      filter: (objectClass=inetOrgPerson)
      attributes: [uid, cn, mail, mobile]
      key_attribute: uid
      page_size: 3
      timeout: 5s
  - name: contractors
    type: csv
    config: {path: %[5]s/contractors.csv, settle: 0s}
mapping:
  key: uid
  user: {userid: lower(uid), name: cn, email: mail, mobile: mobile, department: ou_path, direct_leader: manager_key}
target:
  config: {base_url: %[6]s, corp_id: %[7]s, secret: %[8]s}
policy: {max_disables: "100%%"}
state: {path: %[5]s/state.db}
`, s.URL, s.ServiceDN, password, base, dir, srv.URL, testCorp, testSecret)), 0o644))
		return path
	}
	sync := func(path string) *Report {
		t.Helper()
		cfg, err := config.Load(path)
		must(t, err)
		e, err := Build(cfg, zap.NewNop())
		must(t, err)
		must(t, e.Open(context.Background()))
		defer e.Close()
		rep, err := e.RunOnce(context.Background(), Options{})
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		return rep
	}
	good := write(s.ServicePassword)

	rep := sync(good)
	if rep.Changes["user_create"] != 11 || rep.SourceRecords["directory"] != 9 {
		t.Fatalf("first sync: %+v", rep)
	}
	users := map[string][]string{}
	depts := map[int64]string{}
	for _, d := range emu.State().Departments {
		depts[d.ID] = d.Name
	}
	for _, u := range emu.State().Users {
		for _, id := range u.Department {
			users[u.UserID] = append(users[u.UserID], depts[id])
		}
		if u.UserID == "dev2" && !slices.Equal(u.DirectLeader, []string{"boss"}) {
			t.Fatalf("dev2 leader = %v, want boss (from the manager DN)", u.DirectLeader)
		}
	}
	if !slices.Equal(users["dev3"], []string{"后端组"}) || !slices.Equal(users["rep1"], []string{"销售部"}) {
		t.Fatalf("departments from OU paths: %v", users)
	}

	// The directory server dies; a contractor leaves the CSV.
	s.Kill()
	must(t, os.WriteFile(filepath.Join(dir, "contractors.csv"),
		[]byte("uid,cn,mail,mobile,ou_path,manager_key\nc1,外包1,c1@example.test,13600000001,外包,\n"), 0o644))
	rep = sync(good)
	if rep.Changes["user_disable"] != 0 || rep.Held != 10 || len(rep.SourceProblems) != 1 {
		t.Fatalf("dead LDAP: changes %v held %d problems %v", rep.Changes, rep.Held, rep.SourceProblems)
	}
	for _, u := range emu.State().Users {
		if u.Status == 2 {
			t.Fatalf("%s disabled while the directory was unreadable", u.UserID)
		}
	}

	// Back up, but with a wrong password: the same.
	must(t, s.Start())
	rep = sync(write("wrong-password"))
	if rep.Changes["user_disable"] != 0 || rep.Held != 10 {
		t.Fatalf("wrong password: changes %v held %d problems %v", rep.Changes, rep.Held, rep.SourceProblems)
	}

	// Fixed: the contractor who left is disabled, nobody else changes.
	rep = sync(write(s.ServicePassword))
	if rep.Changes["user_disable"] != 1 || rep.Held != 0 {
		t.Fatalf("recovered: %v held %d problems %v", rep.Changes, rep.Held, rep.SourceProblems)
	}
}
