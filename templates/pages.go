package templates

import (
	"bytes"
	"embed"
	"fmt"
	htemplate "html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"sort"
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

// Names of the page files and of the templates they must define. Every page
// file is {page}.{lang}.html.tmpl and is parsed on a copy of
// pages/layout.html.tmpl.
const (
	pagesDir         = "pages"
	pageLayoutFile   = "layout.html.tmpl"
	pageRegistration = "registration"
	pageError        = "error"
	tmplPage         = "page"  // layout: the whole document
	tmplPageTitle    = "title" // page: the document's <title>
	tmplPageBody     = "body"  // page: the content of <main>
)

// pageNames lists the pages; each must exist in fallbackLanguage.
var pageNames = []string{pageRegistration, pageError}

// Pages renders the participant's pages (html/template, embedded, parsed
// once in NewPages, which fails fast). It is safe for concurrent use.
type Pages struct {
	// pages maps a page name, then a language, to its parsed templates.
	pages map[string]map[string]*htemplate.Template
}

// PageData is what the registration page shows; the caller loads it.
type PageData struct {
	Meeting convene.Meeting
	// Registration is the participant's registration: its Status is
	// confirmed, waitlisted (with Position set) or cancelled, and its
	// Language chooses the page's language (English when there is no
	// translation).
	Registration convene.Registration
	// CancelAction is the cancel form's action, such as
	// "/r/{token}/cancel" (a relative URL).
	CancelAction string
	// JustCancelled is true on the page answering the cancel POST.
	JustCancelled bool
}

// NewPages parses the embedded pages once. It fails if a page does not
// parse or does not execute on sample data, if a file is misnamed, or if a
// page lacks its English version.
func NewPages() (*Pages, error) {
	fsys, err := fs.Sub(pageFiles, pagesDir)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return newPages(fsys)
}

// newPages is NewPages reading the page files from fsys.
func newPages(fsys fs.FS) (*Pages, error) {
	names, err := fs.Glob(fsys, "*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	// files maps a page name, then a language, to its file name.
	files := map[string]map[string]string{}
	hasLayout := false
	for _, name := range names {
		if name == pageLayoutFile {
			hasLayout = true
			continue
		}
		parts := strings.Split(strings.TrimSuffix(name, ".tmpl"), ".")
		if len(parts) != 3 || parts[1] == "" || parts[2] != "html" {
			return nil, fmt.Errorf("templates: %s/%s: want a name like %s.en.html.tmpl", pagesDir, name, pageRegistration)
		}
		page, lang := parts[0], parts[1]
		if !slices.Contains(pageNames, page) {
			return nil, fmt.Errorf("templates: %s/%s: unknown page %q", pagesDir, name, page)
		}
		if files[page] == nil {
			files[page] = map[string]string{}
		}
		files[page][lang] = name
	}
	if !hasLayout {
		return nil, fmt.Errorf("templates: %s/%s is missing", pagesDir, pageLayoutFile)
	}
	layout, err := parseHTML(fsys, htemplate.New(pageLayoutFile), pageLayoutFile)
	if err != nil {
		return nil, err
	}
	if layout.Lookup(tmplPage) == nil {
		return nil, fmt.Errorf("templates: %s/%s does not define %q", pagesDir, pageLayoutFile, tmplPage)
	}

	p := &Pages{pages: map[string]map[string]*htemplate.Template{}}
	for _, page := range pageNames {
		if files[page][fallbackLanguage] == "" {
			return nil, fmt.Errorf("templates: page %s has no %s version (%s/%s.%s.html.tmpl)", page, fallbackLanguage, pagesDir, page, fallbackLanguage)
		}
		p.pages[page] = map[string]*htemplate.Template{}
		for lang, name := range files[page] {
			h, err := layout.Clone()
			if err != nil {
				return nil, fmt.Errorf("templates: %w", err)
			}
			if h, err = parseHTML(fsys, h.New(name), name); err != nil {
				return nil, err
			}
			for _, def := range []string{tmplPageTitle, tmplPageBody} {
				if h.Lookup(def) == nil {
					return nil, fmt.Errorf("templates: %s/%s does not define %q", pagesDir, name, def)
				}
			}
			p.pages[page][lang] = h
		}
	}

	// Execute every page once in every language on sample data, so that a
	// page that parses but cannot run stops the process now rather than a
	// participant's request later.
	for _, page := range pageNames {
		langs := make([]string, 0, len(p.pages[page]))
		for lang := range p.pages[page] {
			langs = append(langs, lang)
		}
		sort.Strings(langs)
		for _, lang := range langs {
			switch page {
			case pageRegistration:
				for _, d := range samplePages(lang) {
					if err := p.Registration(io.Discard, d); err != nil {
						return nil, err
					}
				}
			case pageError:
				if err := p.render(io.Discard, page, lang, newErrorView(lang, http.StatusNotFound, "Sample message")); err != nil {
					return nil, err
				}
			}
		}
	}
	return p, nil
}

// Registration renders the registration page: GET /r/{token}, and the page
// answering the cancel POST (d.JustCancelled). It only ever shows the
// cancel form; nothing is cancelled by rendering or viewing it. The page is
// written to w only once it is complete, so on error nothing is written.
func (p *Pages) Registration(w io.Writer, d PageData) error {
	lang := d.Registration.Language
	if _, ok := p.pages[pageRegistration][lang]; !ok {
		lang = fallbackLanguage
	}
	v, err := newRegistrationView(d, lang)
	if err != nil {
		return err
	}
	return p.render(w, pageRegistration, lang, v)
}

// Error renders a small English HTML error page showing message and the
// status code, such as 404 "This link is not valid". An empty message shows
// the status text. The caller writes the status code itself; the page is
// written to w only once it is complete.
func (p *Pages) Error(w io.Writer, status int, message string) error {
	return p.render(w, pageError, fallbackLanguage, newErrorView(fallbackLanguage, status, message))
}

// render executes page in lang into a buffer, then copies it to w.
func (p *Pages) render(w io.Writer, page, lang string, v any) error {
	h, ok := p.pages[page][lang]
	if !ok {
		h = p.pages[page][fallbackLanguage]
	}
	var b bytes.Buffer
	if err := h.ExecuteTemplate(&b, tmplPage, v); err != nil {
		return fmt.Errorf("templates: page %s.%s: %w", page, lang, err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("templates: write page %s: %w", page, err)
	}
	return nil
}

// registrationView is what the registration page's templates see:
// participant and meeting text cleaned of control characters, and times
// formatted in the meeting's zone and the page's language.
type registrationView struct {
	Lang         string
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

func newRegistrationView(d PageData, lang string) (registrationView, error) {
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
	online := oneLine(m.OnlineURL)
	v := registrationView{
		Lang:             lang,
		Title:            oneLine(m.Title),
		When:             localeFor(lang).when(m),
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

// errorView is what the error page's templates see.
type errorView struct {
	Lang       string
	Status     int
	StatusText string
	Message    string
}

func newErrorView(lang string, status int, message string) errorView {
	v := errorView{Lang: lang, Status: status, StatusText: http.StatusText(status), Message: oneLine(message)}
	if v.Message == "" {
		v.Message = v.StatusText
	}
	if v.Message == "" {
		v.Message = "Something went wrong"
	}
	return v
}

// samplePages returns registration pages in lang that exercise every
// branch of the templates, for NewPages to try them.
func samplePages(lang string) []PageData {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	end := start.Add(8 * time.Hour)
	full := PageData{
		Meeting: convene.Meeting{
			ID:        "m-sample",
			Title:     "Sample meeting",
			StartsAt:  start,
			EndsAt:    &end,
			Timezone:  "UTC",
			Location:  "Sample room",
			OnlineURL: "https://meet.example.org/sample",
			Status:    convene.MeetingScheduled,
		},
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
