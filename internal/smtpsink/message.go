package smtpsink

import (
	"bytes"
	"encoding/base64"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// Message is one message the sink accepted.
type Message struct {
	From     string    // envelope sender (MAIL FROM), without angle brackets
	To       []string  // envelope recipients (RCPT TO), in order
	Data     []byte    // the message as received, headers and body
	Received time.Time // when the sink recorded it
	User     string    // the AUTH username, "" when the client did not authenticate
	TLS      bool      // whether the message arrived over TLS (STARTTLS or implicit)
}

func (m Message) clone() Message {
	m.To = slices.Clone(m.To)
	m.Data = bytes.Clone(m.Data)
	return m
}

// Header returns the first value of the named header with RFC 2047 encoded
// words decoded, or "" when the header is absent or the message cannot be
// parsed.
func (m Message) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(name)
	if v == "" {
		return ""
	}
	dec := mime.WordDecoder{}
	decoded, err := dec.DecodeHeader(v)
	if err != nil {
		return v
	}
	return decoded
}

// Part is one leaf MIME part of a message.
type Part struct {
	ContentType string            // bare media type, lower-case, e.g. "text/calendar"
	Params      map[string]string // Content-Type parameters, names lower-case, values as sent
	Filename    string            // from Content-Disposition (or the Content-Type name), decoded
	Body        []byte            // decoded from quoted-printable or base64
}

// Parts returns the message's leaf parts in order, walking multipart/*
// parts recursively. A message that is not multipart is one part. It returns
// nil when the message cannot be parsed.
func (m Message) Parts() []Part {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil
	}
	var parts []Part
	collect(textproto.MIMEHeader(msg.Header), msg.Body, &parts, 0)
	return parts
}

// Part returns the first leaf part with the given media type, such as
// "text/plain", "text/html" or "text/calendar".
func (m Message) Part(mediaType string) (Part, bool) {
	for _, p := range m.Parts() {
		if strings.EqualFold(p.ContentType, mediaType) {
			return p, true
		}
	}
	return Part{}, false
}

// maxDepth bounds multipart nesting.
const maxDepth = 16

func collect(h textproto.MIMEHeader, body io.Reader, out *[]Part, depth int) {
	mediaType, params := "text/plain", map[string]string{}
	if ct := h.Get("Content-Type"); ct != "" {
		mt, p, err := mime.ParseMediaType(ct)
		switch {
		case err == nil || mt != "":
			mediaType = mt
			if p != nil {
				params = p
			}
		default:
			mediaType = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
		}
	}
	if strings.HasPrefix(mediaType, "multipart/") && params["boundary"] != "" && depth < maxDepth {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			collect(p.Header, p, out, depth+1)
		}
	}
	data, _ := io.ReadAll(decodeBody(h.Get("Content-Transfer-Encoding"), body))
	*out = append(*out, Part{
		ContentType: mediaType,
		Params:      maps.Clone(params),
		Filename:    filename(h, params),
		Body:        data,
	})
}

func decodeBody(cte string, body io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, body) // skips CR and LF
	default:
		return body
	}
}

func filename(h textproto.MIMEHeader, ctParams map[string]string) string {
	name := ""
	if cd := h.Get("Content-Disposition"); cd != "" {
		if _, p, err := mime.ParseMediaType(cd); err == nil {
			name = p["filename"]
		}
	}
	if name == "" {
		name = ctParams["name"]
	}
	dec := mime.WordDecoder{}
	if decoded, err := dec.DecodeHeader(name); err == nil {
		return decoded
	}
	return name
}
