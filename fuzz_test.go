package convene_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"convene"
)

// FuzzRegistrationInput feeds arbitrary request bodies through the intake
// decoder and validator: whatever it accepts has no control characters in
// any field that can reach an email header, and respects every limit.
func FuzzRegistrationInput(f *testing.F) {
	f.Add(`{"name":"Ada Lovelace","email":"ada@example.org","organisation":"Analytical","language":"fr"}`)
	f.Add(`{"name":"Eve\r\nBcc: x@example.org","email":"eve@example.org"}`)
	f.Add(`{"name":"<script>{{.Link}}</script>","email":"a@b.c"}`)
	f.Add(`{"name":"x","email":"a@example.org\nBcc: b@example.org"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in convene.RegistrationInput
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			return
		}
		r, err := convene.NewRegistration("m1", in, time.Unix(0, 0))
		if err != nil {
			if convene.ErrorCode(err) != convene.EINVALID || convene.ErrorMessage(err) == "" {
				t.Fatalf("rejection without a clear invalid-input error: %v", err)
			}
			return
		}
		for field, v := range map[string]string{"name": r.Name, "email": r.Email, "organisation": r.Organisation} {
			if strings.ContainsAny(v, "\r\n\x00") || !utf8.ValidString(v) {
				t.Fatalf("accepted %s %q", field, v)
			}
		}
		if r.Name == "" || utf8.RuneCountInString(r.Name) > convene.MaxNameLen || len(r.Email) > convene.MaxEmailLen ||
			utf8.RuneCountInString(r.Organisation) > convene.MaxOrganisationLen {
			t.Fatalf("accepted out-of-limit registration %+v", r)
		}
		if _, err := convene.ParseEmail(r.Email); err != nil {
			t.Fatalf("accepted address %q fails its own check: %v", r.Email, err)
		}
	})
}

// FuzzTokenVerify checks that no token but one the signer made verifies,
// and that verifying never panics.
func FuzzTokenVerify(f *testing.F) {
	s, err := convene.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		f.Fatal(err)
	}
	good := s.Sign("m1", "r-abc")
	f.Add(good)
	f.Add(good[:len(good)-8])                    // truncated MAC
	f.Add(good[:len(good)-1] + "A")              // tampered MAC
	f.Add("m1.r-abd." + good[len("m1.r-abc."):]) // another registration under this MAC
	f.Add("m1.r-abc.")
	f.Add("..")
	f.Add("a.b.c.d")
	f.Fuzz(func(t *testing.T, token string) {
		m, r, ok := s.Verify(token)
		if ok && s.Sign(m, r) != token {
			t.Fatalf("token %q verified as %q/%q but the signer makes %q", token, m, r, s.Sign(m, r))
		}
	})
}
