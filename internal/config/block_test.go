package config

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeBlock(t *testing.T) {
	type inner struct {
		Key Secret `yaml:"key"`
	}
	type block struct {
		Listen  string   `yaml:"listen"`
		Timeout Duration `yaml:"timeout"`
		Robot   *inner   `yaml:"robot"`
	}
	load := func(t *testing.T, y string) *File {
		t.Helper()
		f, err := Parse([]byte(y), "/etc/orgsync/orgsync.yaml")
		if f == nil {
			t.Fatalf("parse: %v", err)
		}
		return f
	}
	t.Run("decodes known keys, durations and nested structs", func(t *testing.T) {
		f := load(t, "server:\n  listen: 127.0.0.1:1\n  timeout: 3s\n  robot: {key: abc}\n")
		var b block
		if err := DecodeBlock(&f.Server, "server", &b); err != nil {
			t.Fatal(err)
		}
		if b.Listen != "127.0.0.1:1" || b.Timeout.D().Seconds() != 3 || b.Robot == nil || b.Robot.Key.Reveal() != "abc" {
			t.Fatalf("got %+v", b)
		}
	})
	t.Run("reports every unknown key with its line, nested ones too", func(t *testing.T) {
		f := load(t, "server:\n  listen: x\n  lisen: y\n  robot:\n    kye: z\n")
		var b block
		err := DecodeBlock(&f.Server, "server", &b)
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{"line 3: server.lisen: unknown key", "line 5: server.robot.kye: unknown key"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	t.Run("still decodes the known keys next to an unknown one", func(t *testing.T) {
		f := load(t, "server:\n  listen: x\n  lisen: y\n")
		var b block
		if err := DecodeBlock(&f.Server, "server", &b); err == nil || b.Listen != "x" {
			t.Fatalf("got %+v, %v", b, err)
		}
	})
	t.Run("leaves the value alone when the block is absent", func(t *testing.T) {
		f := load(t, "state: {path: x}\n")
		b := block{Listen: "default"}
		if err := DecodeBlock(&f.Server, "server", &b); err != nil || b.Listen != "default" {
			t.Fatalf("got %+v, %v", b, err)
		}
	})
	t.Run("reports a bad duration with its line", func(t *testing.T) {
		f := load(t, "server:\n  timeout: soon\n")
		var b block
		err := DecodeBlock(&f.Server, "server", &b)
		if err == nil || !strings.Contains(err.Error(), `line 2: "soon" is not a duration`) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestJoinProblems(t *testing.T) {
	err := JoinProblems(nil, Problems{"a", "b"}, errors.New("c"), nil)
	var p Problems
	if !errors.As(err, &p) || strings.Join(p, ",") != "a,b,c" {
		t.Fatalf("got %v", err)
	}
	if JoinProblems(nil, nil) != nil {
		t.Fatal("no problems should be nil")
	}
}
