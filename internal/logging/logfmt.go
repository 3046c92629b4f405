package logging

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// logfmtEncoder writes key=value lines (ts=… level=info msg="run finished"
// run_id=7), the format of Prometheus, Grafana Loki and Heroku tools. It
// encodes with zap's JSON encoder and rewrites the flat object, so every
// field type zap knows is supported; nested values stay JSON, quoted.
type logfmtEncoder struct {
	zapcore.Encoder // the JSON encoder
}

var bufPool = buffer.NewPool()

func (e logfmtEncoder) Clone() zapcore.Encoder { return logfmtEncoder{e.Encoder.Clone()} }

func (e logfmtEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	js, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	defer js.Free()
	out := bufPool.Get()
	dec := json.NewDecoder(bytes.NewReader(js.Bytes()))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	first := true
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if !first {
			out.AppendByte(' ')
		}
		first = false
		out.AppendString(logfmtKey(kt.(string)))
		out.AppendByte('=')
		out.AppendString(logfmtValue(raw))
	}
	out.AppendByte('\n')
	return out, nil
}

func logfmtKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == '=' || r == '"' {
			return '_'
		}
		return r
	}, k)
}

func logfmtValue(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r) }) {
			return s
		}
		return strconv.Quote(s)
	}
	v := string(raw)
	if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
		return strconv.Quote(v)
	}
	return v // numbers, true, false, null
}
