package plan

import "github.com/orgsync/orgsync/model"

// appendJSON appends c as encoding/json encodes it with HTML escaping off,
// as WriteJSON's encoder does: the fields in order, omitempty as tagged.
// Written by hand because a plan's member changes are most of its bytes
// (a first import is 100k of them), and encoding/json re-scans what every
// Person's MarshalJSON returns. TestUserChangeJSONIsReflections holds it
// to encoding/json's bytes.
func (c *UserChange) appendJSON(b []byte) []byte {
	b = append(b, `{"op":`...)
	b = model.AppendJSONString(b, string(c.Op))
	b = append(b, `,"userid":`...)
	b = model.AppendJSONString(b, c.UserID)
	if c.Key != "" {
		b = append(b, `,"key":`...)
		b = model.AppendJSONString(b, c.Key)
	}
	if c.Before != nil {
		b = append(b, `,"before":`...)
		b = c.Before.AppendJSON(b)
	}
	if c.After != nil {
		b = append(b, `,"after":`...)
		b = c.After.AppendJSON(b)
	}
	if len(c.Fields) > 0 {
		b = model.AppendJSONStrings(append(b, `,"fields":`...), c.Fields)
	}
	if c.Adopt {
		b = append(b, `,"adopt":true`...)
	}
	b = append(b, `,"reason":`...)
	b = model.AppendJSONString(b, c.Reason)
	b = append(b, `,"origin":`...)
	return append(c.Origin.AppendJSON(b), '}')
}
