package mapping

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// emailRE is what isEmail computes as a loop.
var emailRE = regexp.MustCompile(`^[^@\s,;<>"()\[\]]+@[^@\s,;<>"()\[\]]+\.[^@\s,;<>"()\[\].]+$`)

func TestIsEmailIsTheRegexp(t *testing.T) {
	cases := []string{"a@b.c", "zhang.san@corp.example.com", "张三@例子.中国", "a@b", "@b.c", "a@.c", "a@b.", "a@b.c.", "a@@b.c",
		"a b@c.d", "a@b c.d", "a,b@c.d", "a@b.c;", "<a@b.c>", `"a"@b.c`, "a@b..c", "a@b.c.d", "a@[1.2.3.4]", "a\t@b.c", "a@b.c\n", ""}
	for _, c := range cases {
		if got, want := isEmail(c), emailRE.MatchString(c); got != want {
			t.Errorf("%q: isEmail %v, the regexp %v", c, got, want)
		}
	}
	alphabet := []rune("ab@.,; \t<>\"()[]张\x00-_")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		n := rng.IntN(9)
		r := make([]rune, n)
		for j := range r {
			r[j] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(r)
		if got, want := isEmail(s), emailRE.MatchString(s); got != want {
			t.Fatalf("%q: isEmail %v, the regexp %v", s, got, want)
		}
	}
}
