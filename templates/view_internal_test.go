package templates

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzOneLineShortcut checks that oneLine's shortcut for clean strings
// returns what the long way returns.
func FuzzOneLineShortcut(f *testing.F) {
	for _, s := range []string{
		"", "a", "Jane Doe", " Jane", "Jane ", "Jane  Doe", "Jane\tDoe", "Jane\nDoe", "Jane\rDoe",
		"Jane\u00a0Doe", "Jane\u2028Doe", "Jane\x7fDoe", "Jane\x00Doe", "Zoë", "a b c", " ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		long := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) && !unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)), " ")
		if got := oneLine(s); got != long {
			t.Errorf("oneLine(%q) = %q, want %q", s, got, long)
		}
		if isOneLine(s) && long != s {
			t.Errorf("isOneLine(%q) but the long way gives %q", s, long)
		}
	})
}
