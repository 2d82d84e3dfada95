// Package convene is the domain of Convene: meetings, the registrations of
// their participants, the emails sent to them, and the validation rules that
// guard every input. It depends on the standard library only; storage,
// mail delivery, jobs and HTTP live in their own packages and speak in these
// types.
package convene

import (
	"crypto/rand"
	"encoding/base32"
	"strings"

	// Meetings name IANA zones; embed the database so Convene does not
	// depend on the host having one (many slim images do not).
	_ "time/tzdata"
)

// Languages lists the participant languages Convene accepts, in the order
// they are documented. Emails fall back to English where no translation
// exists.
var Languages = []string{"en", "fr", "es", "ru", "ar", "zh"}

// DefaultLanguage is the language of a registration that names none.
const DefaultLanguage = "en"

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random identifier of the form prefix + 16 lowercase base32
// characters (80 random bits), e.g. "r-k3j…". It is safe as a Redis key part
// and in URLs.
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("convene: crypto/rand failed: " + err.Error())
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

// NormalizeEmail returns the form of an address used to recognise the same
// participant twice: trimmed and lower-cased.
func NormalizeEmail(addr string) string {
	return strings.ToLower(strings.TrimSpace(addr))
}
