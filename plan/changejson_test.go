package plan

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/model"
)

// TestUserChangeJSONIsReflections: a member change written by hand is the
// bytes encoding/json writes of it with HTML escaping off, for changes with
// and without each optional field and with text that needs every escape;
// and WriteJSON's compact output of a plan is json.Marshal's once HTML
// characters are escaped alike.
func TestUserChangeJSONIsReflections(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"a", "张", " ", "\"", "\\", "<", ">", "&", "\u2028", "\u2029", "\x00", "\x1f", "\n", "\t", "\xff", "😀"}
	text := func() string {
		var b strings.Builder
		for n := r.IntN(4); n > 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		return b.String()
	}
	person := func() *model.Person {
		if r.IntN(3) == 0 {
			return nil
		}
		p := &model.Person{Key: text(), UserID: text(), Name: text(), Position: text(), Departments: []string{text()},
			Enabled: r.IntN(2) == 0, Origin: model.Origin{Source: text(), Locator: text()}}
		if r.IntN(2) == 0 {
			p.Gender = model.Gender(text())
			p.SetMore(model.PersonMore{Alias: text(), LeaderOf: []string{text()},
				ExtAttrs: []model.ExtAttr{{Name: text(), Value: text()}}})
		}
		return p
	}
	ops := []Op{OpUserCreate, OpUserUpdate, OpUserMove, OpUserDisable, OpUserDelete}
	var all Changes
	for i := 0; i < 5000; i++ {
		c := UserChange{Op: ops[r.IntN(len(ops))], UserID: text(), Before: person(), After: person(),
			Adopt: r.IntN(3) == 0, Reason: text(), Origin: model.Origin{Source: text(), Locator: text()}}
		if r.IntN(2) == 0 {
			c.Key = text()
		}
		switch r.IntN(3) {
		case 0:
			c.Fields = []string{text(), text()}
		case 1:
			c.Fields = []string{}
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
		if got := c.appendJSON(nil); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte{'\n'})) {
			t.Fatalf("change %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
		all.UserUpdates = append(all.UserUpdates, c)
	}
	var buf bytes.Buffer
	if err := all.WriteJSON(&buf, "", ""); err != nil {
		t.Fatal(err)
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, buf.Bytes())
	if want, _ := json.Marshal(&all); !bytes.Equal(escaped.Bytes(), want) {
		t.Fatal("WriteJSON's plan, HTML escaped, is not json.Marshal's")
	}
}
