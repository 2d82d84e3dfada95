package convene

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// MinSigningKeyLen is the shortest accepted SIGNING_KEY, in bytes.
const MinSigningKeyLen = 32

// Signer makes and checks the tokens of participants' personal links
// ({PUBLIC_URL}/r/{token}). A token names a meeting and a registration and
// carries an HMAC-SHA256 over both, so it cannot be guessed or altered.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer using key, which must be at least
// MinSigningKeyLen bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinSigningKeyLen {
		return nil, Errorf(EINVALID, "signing key must be at least %d bytes", MinSigningKeyLen)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Sign returns the token for a registration: "meeting.registration.mac".
func (s *Signer) Sign(meetingID, registrationID string) string {
	return meetingID + "." + registrationID + "." + s.mac(meetingID, registrationID)
}

// Verify returns the meeting and registration a token names, and false when
// the token is malformed or its MAC does not match.
func (s *Signer) Verify(token string) (meetingID, registrationID string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	want := s.mac(parts[0], parts[1])
	if !hmac.Equal([]byte(parts[2]), []byte(want)) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

func (s *Signer) mac(meetingID, registrationID string) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("convene/registration/v1\x00" + meetingID + "\x00" + registrationID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// DigestTokenScope takes the meeting's place in the tokens of digest
// unsubscribe links, which name an organiser id instead of a registration.
const DigestTokenScope = "digest"
