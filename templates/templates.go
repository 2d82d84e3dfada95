package templates

import (
	"bytes"
	"embed"
	"fmt"
	htemplate "html/template"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	ttemplate "text/template"
	"time"

	"convene"
)

//go:embed *.tmpl
var embedded embed.FS

// ParticipantKinds lists the email kinds Participant renders, in the order
// of SPEC §4.
var ParticipantKinds = []string{
	convene.EmailConfirmation,
	convene.EmailWaitlisted,
	convene.EmailPromoted,
	convene.EmailReminder,
	convene.EmailUpdated,
	convene.EmailCancelled,
}

// fallbackLanguage is the language used for a code Convene does not speak.
const fallbackLanguage = convene.DefaultLanguage

// Names of the files and of the templates they must define.
const (
	layoutFile   = "layout.html.tmpl"
	commonBase   = "common"
	tmplSubject  = "subject"  // text: the subject line
	tmplText     = "text"     // text: the whole text/plain part
	tmplLayout   = "layout"   // html: the whole text/html part
	tmplContent  = "content"  // html: the kind's part of the layout
	tmplCalendar = "calendar" // text, in common: the calendar DESCRIPTION
)

// Calendar attachment media types.
const (
	contentTypeRequest = "text/calendar; charset=utf-8; method=REQUEST"
	contentTypeCancel  = "text/calendar; charset=utf-8; method=CANCEL"
)

// Options configure a Renderer.
type Options struct {
	// From is the sender of every email. It is the ORGANIZER of calendar
	// entries, and the domain of its address names Message-IDs and calendar
	// UIDs.
	From convene.Address
}

// Renderer renders participant emails from the embedded templates. It is
// safe for concurrent use.
type Renderer struct {
	from   convene.Address
	domain string
	cat    *Catalogue
	// kinds maps an email kind, then a language, to its templates, each
	// language's copy calling that language's catalogue.
	kinds map[string]map[string]*set
	// digest is the organiser digest's templates (see digest.go), in
	// English; it is not in kinds, so Participant refuses "digest".
	digest *set
}

// set is the parsed templates of one kind in one language.
type set struct {
	lang *Language
	text *ttemplate.Template // defines "subject", "text" and "calendar"
	html *htemplate.Template // defines "layout" and "content"
}

// New parses the embedded templates and catalogues once. It fails if a
// template does not parse or does not execute on sample data in every
// language, if a file is misnamed or missing, or if a catalogue lacks a
// message; a running worker therefore never meets a broken template.
func New(opts Options) (*Renderer, error) {
	cat, err := NewCatalogue()
	if err != nil {
		return nil, err
	}
	return newFS(opts, embedded, cat)
}

// newFS is New reading the templates from fsys.
func newFS(opts Options, fsys fs.FS, cat *Catalogue) (*Renderer, error) {
	domain, err := domainOf(opts.From.Address)
	if err != nil {
		return nil, err
	}
	r := &Renderer{
		from:   opts.From,
		domain: domain,
		cat:    cat,
		kinds:  map[string]map[string]*set{},
	}

	names, err := fs.Glob(fsys, "*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	for _, name := range names {
		if name == layoutFile {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(name, ".tmpl"), ".")
		if len(parts) != 2 || (parts[1] != "txt" && parts[1] != "html") {
			return nil, fmt.Errorf("templates: %s: want a name like confirmation.txt.tmpl or confirmation.html.tmpl (one file per kind; the words are in locales/)", name)
		}
		if base := parts[0]; base != commonBase && base != convene.EmailDigest && !slices.Contains(ParticipantKinds, base) {
			return nil, fmt.Errorf("templates: %s: unknown email kind %q", name, base)
		}
	}

	for _, kind := range ParticipantKinds {
		r.kinds[kind] = map[string]*set{}
		for _, l := range cat.Languages() {
			t, err := parseText(fsys, ttemplate.New(commonBase).Funcs(textFuncs(l)), l, commonBase+".txt.tmpl", kind+".txt.tmpl")
			if err != nil {
				return nil, err
			}
			h, err := parseHTML(fsys, htemplate.New(layoutFile).Funcs(htmlFuncs(l)), l, layoutFile, commonBase+".html.tmpl", kind+".html.tmpl")
			if err != nil {
				return nil, err
			}
			if err := defines(t, kind+".txt.tmpl", tmplSubject, tmplText, tmplCalendar); err != nil {
				return nil, err
			}
			if err := defines(h, kind+".html.tmpl", tmplLayout, tmplContent); err != nil {
				return nil, err
			}
			r.kinds[kind][l.Code] = &set{lang: l, text: t, html: h}
		}
	}

	// Execute everything once on sample data in every language, so that a
	// template that parses but cannot run (a misspelt field or message, an
	// ambiguous HTML context) stops the process now rather than an email
	// later.
	for _, kind := range ParticipantKinds {
		for _, l := range cat.Languages() {
			s := r.kinds[kind][l.Code]
			for _, v := range samples(kind, l) {
				if _, err := r.execute(s, v); err != nil {
					return nil, err
				}
				if _, err := r.description(s, v); err != nil {
					return nil, err
				}
			}
		}
	}

	// The organiser digest, parsed and tried on its own.
	if err := r.parseDigest(fsys); err != nil {
		return nil, err
	}
	return r, nil
}

// textFuncs are the functions every template may call: t looks a message
// up in l's catalogue ({{t "email.hello" "Name" .Name}}), n a plural one
// ({{n "meeting.seats_left" .SeatsLeft}}). Each language has its own
// parse of every template, with its own functions; with a nil l they only
// exist, and fail when called.
func textFuncs(l *Language) ttemplate.FuncMap {
	if l == nil {
		none := func(key string, _ ...any) (string, error) {
			return "", fmt.Errorf("templates: message %q looked up without a language", key)
		}
		return ttemplate.FuncMap{"t": none, "n": func(key string, _ int, _ ...any) (string, error) { return none(key) }}
	}
	return ttemplate.FuncMap{"t": l.T, "n": l.N}
}

// htmlFuncs are textFuncs and lines, for HTML templates.
func htmlFuncs(l *Language) htemplate.FuncMap {
	f := htemplate.FuncMap(textFuncs(l))
	f["lines"] = lines
	return f
}

// lines escapes multi-line plain text for HTML, with a <br> at each line
// break.
func lines(s string) htemplate.HTML {
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = htemplate.HTMLEscapeString(l)
	}
	return htemplate.HTML(strings.Join(ls, "<br>\n"))
}

// parseText parses the files, in order, into t, in language l (see
// resolve; nil: as they are).
func parseText(fsys fs.FS, t *ttemplate.Template, l *Language, names ...string) (*ttemplate.Template, error) {
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		if t, err = t.New(name).Parse(resolve(string(src), l, false)); err != nil {
			return nil, fmt.Errorf("templates: parse %s: %w", name, err)
		}
	}
	return t, nil
}

// parseHTML parses the files, in order, into h, in language l (see
// resolve; nil: as they are).
func parseHTML(fsys fs.FS, h *htemplate.Template, l *Language, names ...string) (*htemplate.Template, error) {
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		if h, err = h.New(name).Parse(resolve(string(src), l, true)); err != nil {
			return nil, fmt.Errorf("templates: parse %s: %w", name, err)
		}
	}
	return h, nil
}

// Lookups the parse resolves (see resolve): {{t "key"}}, (t "key") as an
// argument, and {{t "key" "Name" .Field …}} whose values are fields,
// variables or quoted strings.
var (
	constantLookup = regexp.MustCompile(`\{\{t "([a-z0-9_.]+)"\}\}`)
	nestedLookup   = regexp.MustCompile(`\(t "([a-z0-9_.]+)"\)`)
	lookupWithArgs = regexp.MustCompile(`\{\{t "([a-z0-9_.]+)"((?: "[A-Za-z]+" (?:\$?\.[A-Za-z.]+|"(?:[^"\\]|\\.)*"))+)\}\}`)
	lookupArg      = regexp.MustCompile(` "([A-Za-z]+)" (\$?\.[A-Za-z.]+|"(?:[^"\\]|\\.)*")`)
)

// resolve returns a template's source written out in language l: each
// lookup of a message is replaced by the message's text in l (HTML-escaped
// in HTML templates), its placeholders by the actions that give their
// values ({{t "email.hello" "Name" .Name}} becomes "Hello {{.Name}}," in
// English), and the language's direction ({{.Dir}}, {{.Start}}, {{.End}},
// {{.Arrow}}; see view) is written in. The template stays one file for
// every language, and the values are escaped where they land, as they
// would be in the text a lookup returns; rendering then runs no lookup
// but those of plurals. A lookup of an unknown key, or one missing a
// value, is left as it is, for New's trial run to report.
func resolve(src string, l *Language, isHTML bool) string {
	if l == nil {
		return src
	}
	dir, start, end, arrow := direction(l)
	src = strings.NewReplacer("{{.Dir}}", dir, "{{.Start}}", start, "{{.End}}", end, "{{.Arrow}}", arrow, "{{$.Arrow}}", arrow).Replace(src)
	literal := func(s string) string {
		if isHTML {
			return htemplate.HTMLEscapeString(s)
		}
		return s
	}
	// (t "key") arguments first: they become quoted strings.
	src = nestedLookup.ReplaceAllStringFunc(src, func(call string) string {
		if s, ok := l.static(nestedLookup.FindStringSubmatch(call)[1]); ok {
			return strconv.Quote(s)
		}
		return call
	})
	src = constantLookup.ReplaceAllStringFunc(src, func(call string) string {
		if s, ok := l.static(constantLookup.FindStringSubmatch(call)[1]); ok {
			return literal(s)
		}
		return call
	})
	return lookupWithArgs.ReplaceAllStringFunc(src, func(call string) string {
		sub := lookupWithArgs.FindStringSubmatch(call)
		m, ok := l.messages[sub[1]]
		if !ok {
			return call
		}
		args := map[string]string{}
		for _, a := range lookupArg.FindAllStringSubmatch(sub[2], -1) {
			args[a[1]] = a[2]
		}
		var b strings.Builder
		for _, seg := range m {
			if !seg.hole {
				b.WriteString(literal(seg.text))
				continue
			}
			expr, ok := args[seg.text]
			if !ok {
				return call
			}
			open, end := l.isolate(seg.text)
			b.WriteString(open)
			if strings.HasPrefix(expr, `"`) {
				v, err := strconv.Unquote(expr)
				if err != nil {
					return call
				}
				b.WriteString(literal(v))
			} else {
				b.WriteString("{{" + expr + "}}")
			}
			b.WriteString(end)
		}
		return b.String()
	})
}

// lookuper is a text or HTML template set.
type lookuper[T any] interface{ Lookup(string) T }

// defines checks that a template set defines every name.
func defines[T comparable](t lookuper[T], file string, names ...string) error {
	var zero T
	for _, name := range names {
		if t.Lookup(name) == zero {
			return fmt.Errorf("templates: %s does not define %q", file, name)
		}
	}
	return nil
}

// domainOf returns the domain of a sender address.
func domainOf(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 1 || at == len(addr)-1 || strings.ContainsAny(addr, " <>\r\n") {
		return "", convene.Errorf(convene.EINVALID, "templates: sender address %q has no domain", addr)
	}
	return addr[at+1:], nil
}

// Data is everything one participant email needs; the caller loads it.
type Data struct {
	Meeting convene.Meeting
	// Registration is the addressee. Its Language chooses the words
	// (English for a language Convene does not speak); for "waitlisted",
	// Position is the place on the waiting list.
	Registration convene.Registration
	// Message identifies the email: its Kind chooses the templates, and its
	// MessageID under the sender's domain becomes Email.MessageID.
	Message convene.Message
	// Link is the participant's personal link, {PUBLIC_URL}/r/{token}.
	Link string
	// Now is when the email is rendered: the calendar entry's DTSTAMP, and
	// the reference for "starts in …" in reminders.
	Now time.Time
	// ReminderSubject and ReminderMessage are an extra reminder's subject
	// and message, for "reminder". The subject, when set, replaces the
	// default one; the message is plain text and may span lines.
	ReminderSubject string
	ReminderMessage string
	// Previous is the meeting before the change, for "updated": its start,
	// end, location and online link are compared with Meeting's.
	Previous *convene.Meeting
	// MeetingCancelled tells, for "cancelled", whether the organisers
	// cancelled the whole meeting (true) or the participant cancelled their
	// own registration (false).
	MeetingCancelled bool
}

// Participant renders the email d.Message.Kind describes for one
// participant, in the registration's language. Kinds other than those in
// ParticipantKinds, such as "digest", are an EINVALID error.
func (r *Renderer) Participant(d Data) (convene.Email, error) {
	kind := d.Message.Kind
	langs, ok := r.kinds[kind]
	if !ok {
		return convene.Email{}, convene.Errorf(convene.EINVALID, "templates: no participant email of kind %q", kind)
	}
	s, ok := langs[d.Registration.Language]
	if !ok {
		s = langs[fallbackLanguage]
	}
	v, err := newView(d, s.lang)
	if err != nil {
		return convene.Email{}, err
	}
	out, err := r.execute(s, v)
	if err != nil {
		return convene.Email{}, err
	}
	e := convene.Email{
		Kind:           kind,
		MeetingID:      d.Meeting.ID,
		RegistrationID: d.Registration.ID,
		MessageID:      d.Message.MessageID(r.domain),
		To:             convene.Address{Name: d.Registration.Name, Address: d.Registration.Email},
		Subject:        out.subject,
		Text:           out.text,
		HTML:           out.html,
	}

	method, filename, contentType := "", "", ""
	switch kind {
	case convene.EmailConfirmation, convene.EmailPromoted, convene.EmailReminder, convene.EmailUpdated:
		method, filename, contentType = methodRequest, "invite.ics", contentTypeRequest
	case convene.EmailCancelled:
		method, filename, contentType = methodCancel, "cancel.ics", contentTypeCancel
	}
	if method != "" {
		desc, err := r.description(s, v)
		if err != nil {
			return convene.Email{}, err
		}
		attendee := convene.Address{Name: d.Registration.Name, Address: d.Registration.Email}
		ics, err := r.calendar(d.Meeting, attendee, method, d.Now, d.Meeting.OnlineURL, desc)
		if err != nil {
			return convene.Email{}, err
		}
		e.Attachments = []convene.Attachment{{Filename: filename, ContentType: contentType, Data: ics}}
	}
	return e, nil
}

// rendered is the executed templates of one email.
type rendered struct {
	subject, text, html string
}

func (r *Renderer) execute(s *set, v view) (rendered, error) {
	subject, text, html := getBuffer(), getBuffer(), getBuffer()
	defer putBuffer(subject)
	defer putBuffer(text)
	defer putBuffer(html)
	if err := s.text.ExecuteTemplate(subject, tmplSubject, &v); err != nil {
		return rendered{}, fmt.Errorf("templates: %s.%s subject: %w", v.Kind, s.lang.Code, err)
	}
	if err := s.text.ExecuteTemplate(text, tmplText, &v); err != nil {
		return rendered{}, fmt.Errorf("templates: %s.%s text: %w", v.Kind, s.lang.Code, err)
	}
	if err := s.html.ExecuteTemplate(html, tmplLayout, &v); err != nil {
		return rendered{}, fmt.Errorf("templates: %s.%s html: %w", v.Kind, s.lang.Code, err)
	}
	return rendered{subject: oneLine(subject.String()), text: text.String(), html: html.String()}, nil
}

// buffers holds the buffers emails are rendered into, so that each
// rendering does not grow new ones to the size of an email.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

// putBuffer gives b back for reuse, unless it grew unusually large.
func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	buffers.Put(b)
}

// description renders the calendar entry's DESCRIPTION in s's language.
func (r *Renderer) description(s *set, v view) (string, error) {
	b := getBuffer()
	defer putBuffer(b)
	if err := s.text.ExecuteTemplate(b, tmplCalendar, &v); err != nil {
		return "", fmt.Errorf("templates: %s calendar description: %w", s.lang.Code, err)
	}
	return strings.TrimSpace(b.String()), nil
}
