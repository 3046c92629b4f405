package model

import "testing"

func TestNormalizeMobileMakesEquivalentFormsEqual(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "bare mainland number", in: "13800138000", want: "13800138000"},
		{name: "mainland number with spaces", in: "138 0013 8000", want: "13800138000"},
		{name: "mainland number with +86 and dash", in: "+86-13800138000", want: "13800138000"},
		{name: "mainland number with +86 space as WeCom docs show", in: "+86 13800138000", want: "13800138000"},
		{name: "hong kong number keeps its country code", in: "+852 5123 4567", want: "+852 51234567"},
		{name: "us number keeps its country code", in: "+1 415-555-2671", want: "+1 4155552671"},
		{name: "empty stays empty", in: "  ", want: ""},
		{name: "letters are rejected", in: "call me", wantErr: true},
		{name: "too short is rejected", in: "12", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeMobile(tt.in, "CN")
			if (err != nil) != tt.wantErr {
				t.Fatalf("NormalizeMobile(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("NormalizeMobile(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIndexRejectsUserIDsThatDifferOnlyInCase(t *testing.T) {
	org := Org{People: []Person{
		{Key: "1", UserID: "ZhangSan", Origin: Origin{Source: "hr", Locator: "a.csv:2"}},
		{Key: "2", UserID: "zhangsan", Origin: Origin{Source: "hr", Locator: "a.csv:3"}},
	}}
	if _, err := org.Index(); err == nil {
		t.Fatal("Index accepted userids that WeCom treats as the same")
	}
}

func TestParentPath(t *testing.T) {
	for in, want := range map[string]string{"总部/研发中心/后端组": "总部/研发中心", "总部": ""} {
		if got := ParentPath(in); got != want {
			t.Errorf("ParentPath(%q) = %q, want %q", in, got, want)
		}
	}
}
