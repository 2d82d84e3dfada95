package templates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	htemplate "html/template"
	"io"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"convene"
)

// pageFiles holds the participant's web pages. They live in their own
// folder so that the email templates' top-level "*.tmpl" pattern, and the
// file-name checks New applies to what it matches, never see them.
//
//go:embed pages/*.html.tmpl
var pageFiles embed.FS

// stylesheet is the pages' one stylesheet. It is served under a name that
// holds a hash of its content (StylesheetPath), so that it can be cached
// for good and a new release is fetched anew.
//
//go:embed pages/convene.css
var stylesheet []byte

// StylesheetPath is the path the pages link their stylesheet at, such as
// /assets/convene.1a2b3c4d5e6f.css.
var StylesheetPath = func() string {
	sum := sha256.Sum256(stylesheet)
	return "/assets/convene." + hex.EncodeToString(sum[:6]) + ".css"
}()

// Stylesheet returns the pages' stylesheet, served at StylesheetPath.
func Stylesheet() []byte { return stylesheet }

// Names of the page files and of the templates they must define. Every page
// file is {page}.html.tmpl, parsed on a copy of pages/layout.html.tmpl; its
// words come from the catalogue of the page's language.
const (
	pagesDir         = "pages"
	pageLayoutFile   = "layout.html.tmpl"
	pageMeeting      = "meeting"
	pageRegistered   = "registered"
	pageRegistration = "registration"
	pageError        = "error"
	tmplPage         = "page" // layout: the whole document
	tmplPageBody     = "body" // page: the content of <main>
)

// pageNames lists the pages.
var pageNames = []string{pageMeeting, pageRegistered, pageRegistration, pageError}

// Pages renders the participant's pages in every language (html/template,
// embedded, parsed once in NewPages, which fails fast). It is safe for
// concurrent use.
type Pages struct {
	cat *Catalogue
	// pages maps a page name, then a language, to its parsed templates.
	pages map[string]map[string]*htemplate.Template
	// options maps a language to the form's select with it chosen.
	options map[string]htemplate.HTML
}

// Page is what every page is told: the language to show it in (English
// when Convene does not speak it), and its own path, which the language
// switch links to with ?lang=.
type Page struct {
	Lang string
	Path string
}

// MeetingPage is the meeting's public page, GET /m/{id}, with its
// registration form, or the form shown again with its problems.
type MeetingPage struct {
	Page
	Meeting convene.Meeting
	// Now decides whether registration is open (convene.Meeting.Open).
	Now time.Time
	// Form holds the values to show in the form: what was sent, on a form
	// shown again. An empty Language selects the page's language.
	Form convene.RegistrationInput
	// Problems are the rules the sent form broke, one per field at fault.
	Problems []*convene.Error
	// Action is the form's action, such as "/m/{id}".
	Action string
}

// RegisteredPage is the "check your inbox" page after the form.
type RegisteredPage struct {
	Page
	Meeting convene.Meeting
	// Back links to the meeting's page.
	Back string
}

// PageData is the personal page, GET /r/{token}, and the page answering
// its cancel form; the caller loads it.
type PageData struct {
	Page
	Meeting convene.Meeting
	// Registration is the participant's registration: its Status is
	// confirmed, waitlisted (with Position set) or cancelled.
	Registration convene.Registration
	// CancelAction is the cancel form's action, such as
	// "/r/{token}/cancel" (a relative URL).
	CancelAction string
	// JustCancelled is true on the page answering the cancel POST.
	JustCancelled bool
}

// Reasons an error page gives, as ErrorPage.Reason. Each has a heading
// ("error.{reason}") and most an explanation ("error.{reason}_body") in the
// catalogues.
const (
	ReasonNotFound    = "not_found"   // no page at this address
	ReasonNoMeeting   = "no_meeting"  // no such meeting
	ReasonBadLink     = "bad_link"    // a personal link that is not valid
	ReasonClosed      = "closed"      // registration is closed
	ReasonForbidden   = "forbidden"   // a form sent from another site
	ReasonTooLarge    = "too_large"   // a body over the limit
	ReasonUnsupported = "unsupported" // a body of another media type
	ReasonTimeout     = "timeout"     // a body that came too slowly
	ReasonTooMany     = "too_many"    // an intake limit; see RetryAfter
	ReasonUnavailable = "unavailable" // Redis cannot be reached
	ReasonInternal    = "internal"    // anything else
)

var reasons = []string{ReasonNotFound, ReasonNoMeeting, ReasonBadLink, ReasonClosed, ReasonForbidden,
	ReasonTooLarge, ReasonUnsupported, ReasonTimeout, ReasonTooMany, ReasonUnavailable, ReasonInternal}

// ErrorPage is an error page.
type ErrorPage struct {
	Page
	// Status is the HTTP status, shown as "Error 404".
	Status int
	// Reason is one of the Reason constants; an unknown one reads as
	// ReasonInternal.
	Reason string
	// RetryAfter, when positive, is when to try again, shown in seconds or
	// minutes.
	RetryAfter time.Duration
	// Back, when set, links back to the meeting's page.
	Back string
}

// NewPages parses the embedded pages and catalogues once. It fails if a
// page does not parse, or does not execute on sample data in every
// language.
func NewPages() (*Pages, error) {
	cat, err := NewCatalogue()
	if err != nil {
		return nil, err
	}
	fsys, err := fs.Sub(pageFiles, pagesDir)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return newPages(fsys, cat)
}

// newPages is NewPages reading the page files from fsys.
func newPages(fsys fs.FS, cat *Catalogue) (*Pages, error) {
	names, err := fs.Glob(fsys, "*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	for _, name := range names {
		page, ok := strings.CutSuffix(name, ".html.tmpl")
		if name != pageLayoutFile && (!ok || !contains(pageNames, page)) {
			return nil, fmt.Errorf("templates: %s/%s: want one of %s.html.tmpl (one file per page; the words are in locales/)", pagesDir, name, strings.Join(pageNames, ", "))
		}
	}
	p := &Pages{cat: cat, pages: map[string]map[string]*htemplate.Template{}, options: map[string]htemplate.HTML{}}
	for _, l := range cat.Languages() {
		p.options[l.Code] = p.languageOptions(l.Code)
	}
	for _, page := range pageNames {
		p.pages[page] = map[string]*htemplate.Template{}
		for _, l := range cat.Languages() {
			h, err := parseHTML(fsys, htemplate.New(pageLayoutFile).Funcs(htmlFuncs(l)), l, pageLayoutFile, page+".html.tmpl")
			if err != nil {
				return nil, err
			}
			if err := defines(h, pagesDir+"/"+page+".html.tmpl", tmplPage, tmplPageBody); err != nil {
				return nil, err
			}
			p.pages[page][l.Code] = h
		}
	}

	// Execute every page once in every language on sample data, so that a
	// page that parses but cannot run stops the process now rather than a
	// participant's request later.
	for _, l := range cat.Languages() {
		for _, d := range sampleMeetingPages(l.Code) {
			if err := p.Meeting(io.Discard, d); err != nil {
				return nil, err
			}
		}
		if err := p.Registered(io.Discard, RegisteredPage{Page: Page{Lang: l.Code, Path: "/m/sample/registered"}, Meeting: sampleMeeting(), Back: "/m/sample"}); err != nil {
			return nil, err
		}
		for _, d := range samplePages(l.Code) {
			if err := p.Registration(io.Discard, d); err != nil {
				return nil, err
			}
		}
		for _, reason := range reasons {
			for _, retry := range []time.Duration{0, 30 * time.Second, 5 * time.Minute} {
				if err := p.Error(io.Discard, ErrorPage{Page: Page{Lang: l.Code, Path: "/m/sample"}, Status: 400, Reason: reason, RetryAfter: retry, Back: "/m/sample"}); err != nil {
					return nil, err
				}
			}
		}
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// pageView is what the layout sees.
type pageView struct {
	Lang, Dir  string
	DocTitle   string
	Stylesheet string
	// Private pages (the personal page, error pages) ask search engines
	// not to index them and browsers not to send their URL on.
	Private bool
	// Languages is the language switch's items (see languageSwitch).
	Languages htemplate.HTML
}

func (p *Pages) base(pg Page, title string) (*Language, pageView) {
	l := p.cat.Language(pg.Lang)
	v := pageView{Lang: l.Code, Dir: l.Dir, DocTitle: oneLine(title), Stylesheet: StylesheetPath, Languages: p.languageSwitch(pg.Path, l.Code)}
	return l, v
}

// languageSwitch returns the items of the language switch: a link to path
// in each other language (?lang=), each named in itself, and the current
// language marked. It is written here rather than ranged over in the
// template, where every attribute of every item would cost an escaping
// call on each page; path is escaped.
func (p *Pages) languageSwitch(path, current string) htemplate.HTML {
	var b strings.Builder
	for i, o := range p.cat.Languages() {
		if i > 0 {
			b.WriteByte('\n')
		}
		if o.Code == current {
			fmt.Fprintf(&b, `<li><span aria-current="true" lang="%s">%s</span></li>`, o.Code, htemplate.HTMLEscapeString(o.Name))
			continue
		}
		href := htemplate.HTMLEscapeString(path + "?lang=" + url.QueryEscape(o.Code))
		fmt.Fprintf(&b, `<li><a href="%s" lang="%s" hreflang="%s">%s</a></li>`, href, o.Code, o.Code, htemplate.HTMLEscapeString(o.Name))
	}
	return htemplate.HTML(b.String())
}

// languageOptions returns the options of the form's language select, each
// language named in itself, chosen selected; built once per choice.
func (p *Pages) languageOptions(chosen string) htemplate.HTML {
	var b strings.Builder
	for i, o := range p.cat.Languages() {
		if i > 0 {
			b.WriteByte('\n')
		}
		selected := ""
		if o.Code == chosen {
			selected = " selected"
		}
		fmt.Fprintf(&b, `<option value="%s" lang="%s"%s>%s</option>`, o.Code, o.Code, selected, htemplate.HTMLEscapeString(o.Name))
	}
	return htemplate.HTML(b.String())
}

// meetingView is what the meeting page sees.
type meetingView struct {
	pageView
	Kind, Title, When, Location string
	// Online is true when the meeting has an online link (shown in emails
	// only).
	Online bool
	// Closed is "", "cancelled", "started" or "closed": why the page shows
	// no form.
	Closed    string
	Capacity  int
	SeatsLeft int
	// Closes is when registration closes, formatted; "" when no such time.
	Closes string
	Action string
	Form   convene.RegistrationInput
	// Problems are the form's problems in field order, each with its
	// message; Errors maps a field to its message.
	Problems []problem
	Errors   map[string]string
	// Choices are the options of the form's language select.
	Choices htemplate.HTML
}

// problem is a field's problem, worded for the form.
type problem struct {
	Field, Message string
}

// Meeting renders the meeting's public page. The page is written to w only
// once it is complete, so on error nothing is written.
func (p *Pages) Meeting(w io.Writer, d MeetingPage) error {
	m := d.Meeting
	l, base := p.base(d.Page, m.Title)
	when, err := l.When(m)
	if err != nil {
		return err
	}
	kind := m.Kind
	if !contains(convene.MeetingKinds, kind) {
		kind = convene.KindOther
	}
	v := meetingView{
		pageView: base,
		Title:    oneLine(m.Title),
		When:     when,
		Location: oneLine(m.Location),
		Online:   m.OnlineURL != "",
		Capacity: m.Capacity,
		Action:   strings.TrimSpace(d.Action),
		Form:     d.Form,
		Errors:   map[string]string{},
	}
	if v.Action == "" {
		return fmt.Errorf("templates: meeting %s: the registration form needs an action", m.ID)
	}
	if v.Kind, err = l.T("kind." + kind); err != nil {
		return err
	}
	if m.Capacity > 0 {
		v.SeatsLeft = max(m.Capacity-m.Counts.Confirmed, 0)
	}
	if err := m.Open(d.Now); err != nil {
		switch {
		case m.Status == convene.MeetingCancelled:
			v.Closed = "cancelled"
		case !d.Now.Before(m.StartsAt):
			v.Closed = "started"
		default:
			v.Closed = "closed"
		}
	} else if m.RegistrationClosesAt != nil {
		if v.Closes, err = l.Instant(*m.RegistrationClosesAt, m.Zone()); err != nil {
			return err
		}
	}
	for _, e := range d.Problems {
		msg, err := l.T("form.error." + e.Field + "." + e.Rule)
		if err != nil {
			return fmt.Errorf("templates: no message for field %q breaking rule %q: %w", e.Field, e.Rule, err)
		}
		if _, dup := v.Errors[e.Field]; dup {
			continue
		}
		v.Errors[e.Field] = msg
		v.Problems = append(v.Problems, problem{Field: e.Field, Message: msg})
	}
	if len(v.Problems) > 0 {
		if v.DocTitle, err = l.T("page.error_prefix", "Title", v.DocTitle); err != nil {
			return err
		}
	}
	chosen := d.Form.Language
	if !contains(convene.Languages, chosen) {
		chosen = l.Code
	}
	v.Choices = p.options[chosen]
	return p.render(w, pageMeeting, l, &v)
}

// registeredView is what the "check your inbox" page sees.
type registeredView struct {
	pageView
	Title, Back string
}

// Registered renders the "check your inbox" page.
func (p *Pages) Registered(w io.Writer, d RegisteredPage) error {
	l := p.cat.Language(d.Lang)
	heading, err := l.T("registered.title")
	if err != nil {
		return err
	}
	_, base := p.base(d.Page, heading+" – "+d.Meeting.Title)
	v := registeredView{pageView: base, Title: oneLine(d.Meeting.Title), Back: d.Back}
	return p.render(w, pageRegistered, l, &v)
}

// Registration renders the personal page: GET /r/{token}, and the page
// answering the cancel POST (d.JustCancelled). It only ever shows the
// cancel form; nothing is cancelled by rendering or viewing it. The page is
// written to w only once it is complete, so on error nothing is written.
func (p *Pages) Registration(w io.Writer, d PageData) error {
	l := p.cat.Language(d.Lang)
	title, err := l.T("registration.title", "Title", oneLine(d.Meeting.Title))
	if err != nil {
		return err
	}
	_, base := p.base(d.Page, title)
	base.Private = true
	v, err := newRegistrationView(d, l, base)
	if err != nil {
		return err
	}
	return p.render(w, pageRegistration, l, &v)
}

// errorView is what the error page sees.
type errorView struct {
	pageView
	Status               int
	Heading, Body, Retry string
	Back                 string
}

// Error renders an error page in the page's language, such as 404 "Meeting
// not found". The caller writes the status code itself; the page is written
// to w only once it is complete.
func (p *Pages) Error(w io.Writer, d ErrorPage) error {
	l := p.cat.Language(d.Lang)
	reason := d.Reason
	if !contains(reasons, reason) {
		reason = ReasonInternal
	}
	heading, err := l.T("error." + reason)
	if err != nil {
		return err
	}
	_, base := p.base(d.Page, heading)
	base.Private = true
	v := errorView{pageView: base, Status: d.Status, Heading: heading, Back: d.Back}
	if reason != ReasonTooMany {
		if v.Body, err = l.T("error." + reason + "_body"); err != nil {
			return err
		}
	}
	if d.RetryAfter > 0 {
		secs := int((d.RetryAfter + time.Second - 1) / time.Second)
		if secs < 90 {
			v.Retry, err = l.N("error.retry_seconds", secs)
		} else {
			v.Retry, err = l.N("error.retry_minutes", (secs+59)/60)
		}
		if err != nil {
			return err
		}
	}
	return p.render(w, pageError, l, &v)
}

// render executes page in l into a buffer, then copies it to w.
func (p *Pages) render(w io.Writer, page string, l *Language, v any) error {
	var b bytes.Buffer
	if err := p.pages[page][l.Code].ExecuteTemplate(&b, tmplPage, v); err != nil {
		return fmt.Errorf("templates: page %s in %s: %w", page, l.Code, err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("templates: write page %s: %w", page, err)
	}
	return nil
}

// registrationView is what the personal page sees: participant and meeting
// text cleaned of control characters, and times formatted in the meeting's
// zone and the page's language.
type registrationView struct {
	pageView
	Title        string
	When         string // start and end in the meeting's zone, with the zone's name
	Location     string
	OnlineURL    string
	OnlineLink   bool // OnlineURL is an http or https URL, shown as a link
	Name         string
	Organisation string
	// Status is the registration's status; "cancelled" on the page
	// answering the cancel POST whatever the registration said.
	Status   string
	Position int
	// MeetingCancelled is true when the organisers cancelled the meeting.
	MeetingCancelled bool
	JustCancelled    bool
	// CancelForm is true when the page shows the cancel form.
	CancelForm   bool
	CancelAction string
}

func newRegistrationView(d PageData, l *Language, base pageView) (registrationView, error) {
	m, r := d.Meeting, d.Registration
	status := r.Status
	if d.JustCancelled {
		status = convene.StatusCancelled
	}
	switch status {
	case convene.StatusConfirmed, convene.StatusWaitlisted, convene.StatusCancelled:
	default:
		return registrationView{}, fmt.Errorf("templates: registration %s has status %q, want %s, %s or %s",
			r.ID, r.Status, convene.StatusConfirmed, convene.StatusWaitlisted, convene.StatusCancelled)
	}
	when, err := l.When(m)
	if err != nil {
		return registrationView{}, err
	}
	online := oneLine(m.OnlineURL)
	v := registrationView{
		pageView:         base,
		Title:            oneLine(m.Title),
		When:             when,
		Location:         oneLine(m.Location),
		OnlineURL:        online,
		OnlineLink:       isWebURL(online),
		Name:             oneLine(r.Name),
		Organisation:     oneLine(r.Organisation),
		Status:           status,
		Position:         r.Position,
		MeetingCancelled: m.Status == convene.MeetingCancelled,
		JustCancelled:    d.JustCancelled,
		CancelAction:     strings.TrimSpace(d.CancelAction),
	}
	v.CancelForm = status != convene.StatusCancelled && !v.MeetingCancelled
	if v.CancelForm && v.CancelAction == "" {
		// An empty action would post the form back to the page's own URL.
		return registrationView{}, fmt.Errorf("templates: registration %s: the cancel form needs an action", r.ID)
	}
	return v, nil
}

// isWebURL reports whether s is an absolute http or https URL, the only
// kind of online link that becomes a link on the page.
func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func sampleMeeting() convene.Meeting {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	end := start.Add(8 * time.Hour)
	return convene.Meeting{
		ID:        "m-sample",
		Title:     "Sample meeting",
		Kind:      convene.KindSideEvent,
		StartsAt:  start,
		EndsAt:    &end,
		Timezone:  "UTC",
		Location:  "Sample room",
		OnlineURL: "https://meet.example.org/sample",
		Capacity:  10,
		Status:    convene.MeetingScheduled,
	}
}

// sampleMeetingPages returns meeting pages in lang that exercise every
// branch of the template, for NewPages to try them.
func sampleMeetingPages(lang string) []MeetingPage {
	m := sampleMeeting()
	before := m.StartsAt.Add(-48 * time.Hour)
	open := MeetingPage{Page: Page{Lang: lang, Path: "/m/sample"}, Meeting: m, Now: before, Action: "/m/sample"}
	full := open
	full.Meeting.Counts.Confirmed = 10
	unlimited := open
	unlimited.Meeting.Capacity = 0
	unlimited.Meeting.Kind = "unknown"
	closes := m.StartsAt.Add(-24 * time.Hour)
	closing := open
	closing.Meeting.RegistrationClosesAt = &closes
	closed := closing
	closed.Now = closes
	started := open
	started.Now = m.StartsAt
	cancelled := open
	cancelled.Meeting.Status = convene.MeetingCancelled
	invalid := open
	invalid.Form = convene.RegistrationInput{Name: "x", Language: "zz"}
	for _, f := range []struct{ field, rule string }{
		{"name", convene.RuleRequired}, {"name", convene.RuleTooLong}, {"name", convene.RuleInvalid},
		{"email", convene.RuleRequired}, {"email", convene.RuleTooLong}, {"email", convene.RuleInvalid},
		{"organisation", convene.RuleTooLong}, {"organisation", convene.RuleInvalid},
		{"language", convene.RuleInvalid},
	} {
		invalid.Problems = append(invalid.Problems, &convene.Error{Code: convene.EINVALID, Field: f.field, Rule: f.rule})
	}
	return []MeetingPage{open, full, unlimited, closing, closed, started, cancelled, invalid}
}

// samplePages returns personal pages in lang that exercise every branch
// of the template, for NewPages to try them.
func samplePages(lang string) []PageData {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	full := PageData{
		Page:    Page{Lang: lang, Path: "/r/sample"},
		Meeting: sampleMeeting(),
		Registration: convene.Registration{
			ID:           "r-sample",
			Name:         "Sample Name",
			Organisation: "Sample Organisation",
			Language:     lang,
			Status:       convene.StatusConfirmed,
		},
		CancelAction: "/r/sample/cancel",
	}
	bare := PageData{
		Page:         Page{Lang: lang, Path: "/r/sample"},
		Meeting:      convene.Meeting{ID: "m-sample", StartsAt: start, Timezone: "UTC", OnlineURL: "not a web link"},
		Registration: convene.Registration{ID: "r-sample", Language: lang, Status: convene.StatusWaitlisted},
		CancelAction: "/r/sample/cancel",
	}
	waitlisted := full
	waitlisted.Registration.Status = convene.StatusWaitlisted
	waitlisted.Registration.Position = 3
	cancelled := full
	cancelled.Registration.Status = convene.StatusCancelled
	just := full
	just.JustCancelled = true
	meetingCancelled := full
	meetingCancelled.Meeting.Status = convene.MeetingCancelled
	return []PageData{full, bare, waitlisted, cancelled, just, meetingCancelled}
}
