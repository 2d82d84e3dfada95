package templates

import (
	"bytes"
	"embed"
	"fmt"
	htemplate "html/template"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	ttemplate "text/template"
	"time"

	"convene"
)

//go:embed *.tmpl
var embedded embed.FS

// ParticipantKinds lists the email kinds Participant renders, in the order
// of SPEC §4. Each has English templates; other languages are optional.
var ParticipantKinds = []string{
	convene.EmailConfirmation,
	convene.EmailWaitlisted,
	convene.EmailPromoted,
	convene.EmailReminder,
	convene.EmailUpdated,
	convene.EmailCancelled,
}

// fallbackLanguage is the language every kind must exist in, and the one used
// when a participant's language has no translation.
const fallbackLanguage = convene.DefaultLanguage

// Names of the templates the files must define.
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
	// kinds maps an email kind, then a language, to its parsed templates.
	kinds map[string]map[string]*set
	// common maps a language to its shared text templates, for the
	// calendar description.
	common map[string]*ttemplate.Template
	// digests maps a language to the organiser digest's templates (see
	// digest.go); they are not in kinds, so Participant refuses "digest".
	digests map[string]*set
}

// set is the parsed templates of one kind in one language.
type set struct {
	lang string
	text *ttemplate.Template // defines "subject" and "text"
	html *htemplate.Template // defines "layout" and "content"
}

// New parses the embedded templates once. It fails if a template does not
// parse or does not execute on sample data, if a file is misnamed, or if a
// participant kind or the organiser digest lacks its English templates; a
// running worker therefore never meets a broken template.
func New(opts Options) (*Renderer, error) {
	return newFS(opts, embedded)
}

// newFS is New reading the templates from fsys.
func newFS(opts Options, fsys fs.FS) (*Renderer, error) {
	domain, err := domainOf(opts.From.Address)
	if err != nil {
		return nil, err
	}
	r := &Renderer{
		from:   opts.From,
		domain: domain,
		kinds:  map[string]map[string]*set{},
		common: map[string]*ttemplate.Template{},
	}

	names, err := fs.Glob(fsys, "*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	// files maps base name ("common" or a kind), then language, then
	// format ("txt" or "html") to the file name.
	files := map[string]map[string]map[string]string{}
	hasLayout := false
	for _, name := range names {
		if name == layoutFile {
			hasLayout = true
			continue
		}
		parts := strings.Split(strings.TrimSuffix(name, ".tmpl"), ".")
		if len(parts) != 3 || (parts[2] != "txt" && parts[2] != "html") {
			return nil, fmt.Errorf("templates: %s: want a name like confirmation.en.txt.tmpl or confirmation.en.html.tmpl", name)
		}
		base, lang, format := parts[0], parts[1], parts[2]
		if base != commonBase && base != convene.EmailDigest && !slices.Contains(ParticipantKinds, base) {
			return nil, fmt.Errorf("templates: %s: unknown email kind %q", name, base)
		}
		if files[base] == nil {
			files[base] = map[string]map[string]string{}
		}
		if files[base][lang] == nil {
			files[base][lang] = map[string]string{}
		}
		files[base][lang][format] = name
	}
	if !hasLayout {
		return nil, fmt.Errorf("templates: %s is missing", layoutFile)
	}
	for _, kind := range ParticipantKinds {
		if files[kind][fallbackLanguage] == nil {
			return nil, fmt.Errorf("templates: kind %s has no %s templates", kind, fallbackLanguage)
		}
	}

	// Parse the shared templates of each language that has any file.
	type base struct {
		text *ttemplate.Template
		html *htemplate.Template
	}
	bases := map[string]base{}
	for _, kind := range ParticipantKinds {
		for lang, formats := range files[kind] {
			for _, format := range []string{"txt", "html"} {
				if formats[format] == "" {
					return nil, fmt.Errorf("templates: %s.%s.%s.tmpl is missing", kind, lang, format)
				}
			}
			if _, ok := bases[lang]; ok {
				continue
			}
			common := files[commonBase][lang]
			if common["txt"] == "" || common["html"] == "" {
				return nil, fmt.Errorf("templates: language %s needs %s.%s.txt.tmpl and %s.%s.html.tmpl", lang, commonBase, lang, commonBase, lang)
			}
			t, err := parseText(fsys, ttemplate.New(common["txt"]), common["txt"])
			if err != nil {
				return nil, err
			}
			h, err := parseHTML(fsys, htemplate.New(layoutFile).Funcs(htmlFuncs), layoutFile)
			if err != nil {
				return nil, err
			}
			if h, err = parseHTML(fsys, h.New(common["html"]), common["html"]); err != nil {
				return nil, err
			}
			if t.Lookup(tmplCalendar) == nil {
				return nil, fmt.Errorf("templates: %s does not define %q", common["txt"], tmplCalendar)
			}
			bases[lang] = base{text: t, html: h}
			r.common[lang] = t
		}
	}

	// Parse each kind in each language on a copy of its language's shared
	// templates.
	for _, kind := range ParticipantKinds {
		r.kinds[kind] = map[string]*set{}
		for lang, formats := range files[kind] {
			b := bases[lang]
			t, err := b.text.Clone()
			if err != nil {
				return nil, fmt.Errorf("templates: %w", err)
			}
			if t, err = parseText(fsys, t.New(formats["txt"]), formats["txt"]); err != nil {
				return nil, err
			}
			h, err := b.html.Clone()
			if err != nil {
				return nil, fmt.Errorf("templates: %w", err)
			}
			if h, err = parseHTML(fsys, h.New(formats["html"]), formats["html"]); err != nil {
				return nil, err
			}
			for _, name := range []string{tmplSubject, tmplText} {
				if t.Lookup(name) == nil {
					return nil, fmt.Errorf("templates: %s does not define %q", formats["txt"], name)
				}
			}
			for _, name := range []string{tmplLayout, tmplContent} {
				if h.Lookup(name) == nil {
					return nil, fmt.Errorf("templates: %s does not define %q", formats["html"], name)
				}
			}
			r.kinds[kind][lang] = &set{lang: lang, text: t, html: h}
		}
	}

	// Execute everything once on sample data, so that a template that
	// parses but cannot run (a misspelt field, an ambiguous HTML context)
	// stops the process now rather than an email later.
	for _, kind := range ParticipantKinds {
		langs := make([]string, 0, len(r.kinds[kind]))
		for lang := range r.kinds[kind] {
			langs = append(langs, lang)
		}
		sort.Strings(langs)
		for _, lang := range langs {
			s := r.kinds[kind][lang]
			for _, v := range samples(kind, lang) {
				if _, err := r.execute(s, v); err != nil {
					return nil, err
				}
				if _, err := r.description(lang, v); err != nil {
					return nil, err
				}
			}
		}
	}

	// The organiser digest, parsed and tried on its own.
	if err := r.parseDigests(fsys, files[convene.EmailDigest]); err != nil {
		return nil, err
	}
	return r, nil
}

var htmlFuncs = htemplate.FuncMap{
	// lines escapes multi-line plain text for HTML, with a <br> at each
	// line break.
	"lines": func(s string) htemplate.HTML {
		ls := strings.Split(s, "\n")
		for i, l := range ls {
			ls[i] = htemplate.HTMLEscapeString(l)
		}
		return htemplate.HTML(strings.Join(ls, "<br>\n"))
	},
}

func parseText(fsys fs.FS, t *ttemplate.Template, name string) (*ttemplate.Template, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	t, err = t.Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("templates: parse %s: %w", name, err)
	}
	return t, nil
}

func parseHTML(fsys fs.FS, h *htemplate.Template, name string) (*htemplate.Template, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	h, err = h.Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("templates: parse %s: %w", name, err)
	}
	return h, nil
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
	// Registration is the addressee. Its Language chooses the templates
	// (English when there is no translation); for "waitlisted", Position is
	// the place on the waiting list.
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
// participant. Kinds other than those in ParticipantKinds, such as
// "digest", are an EINVALID error.
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
	v := newView(d, s.lang)
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
		desc, err := r.description(s.lang, v)
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
		return rendered{}, fmt.Errorf("templates: %s.%s subject: %w", v.Kind, s.lang, err)
	}
	if err := s.text.ExecuteTemplate(text, tmplText, &v); err != nil {
		return rendered{}, fmt.Errorf("templates: %s.%s text: %w", v.Kind, s.lang, err)
	}
	if err := s.html.ExecuteTemplate(html, tmplLayout, &v); err != nil {
		return rendered{}, fmt.Errorf("templates: %s.%s html: %w", v.Kind, s.lang, err)
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

// description renders the calendar entry's DESCRIPTION in lang.
func (r *Renderer) description(lang string, v view) (string, error) {
	t, ok := r.common[lang]
	if !ok {
		t = r.common[fallbackLanguage]
	}
	b := getBuffer()
	defer putBuffer(b)
	if err := t.ExecuteTemplate(b, tmplCalendar, &v); err != nil {
		return "", fmt.Errorf("templates: %s calendar description: %w", lang, err)
	}
	return strings.TrimSpace(b.String()), nil
}
