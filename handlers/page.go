package handlers

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/text/language"

	"convene"
	"convene/templates"
)

// Pages renders the participant's HTML pages; *templates.Pages.
type Pages interface {
	Meeting(w io.Writer, d templates.MeetingPage) error
	Registered(w io.Writer, d templates.RegisteredPage) error
	Registration(w io.Writer, d templates.PageData) error
	Error(w io.Writer, d templates.ErrorPage) error
}

// honeypotField is the registration form's hidden field: people never see
// it, robots fill it in.
const honeypotField = "website"

// publicCacheControl lets browsers and CDNs keep a meeting's public pages
// briefly: the seats left may be half a minute old, and a burst of
// visitors from a press release costs Redis little.
const publicCacheControl = "public, max-age=30"

// languageTags are convene.Languages as tags, for matching Accept-Language.
var languageTags = func() []language.Tag {
	tags := make([]language.Tag, len(convene.Languages))
	for i, code := range convene.Languages {
		tags[i] = language.MustParse(code)
	}
	return tags
}()

var languageMatcher = language.NewMatcher(languageTags)

// pageLanguage returns the language of a page: ?lang= when it names a
// language Convene speaks (explicit is then true), else the best match of
// Accept-Language, else English.
func pageLanguage(r *http.Request) (lang string, explicit bool) {
	if lang, ok := queryLanguage(r); ok {
		return lang, true
	}
	if h := r.Header.Get("Accept-Language"); h != "" {
		tags, _, err := language.ParseAcceptLanguage(h)
		if err == nil && len(tags) > 0 {
			if _, i, conf := languageMatcher.Match(tags...); conf != language.No {
				return convene.Languages[i], false
			}
		}
	}
	return convene.DefaultLanguage, false
}

// queryLanguage returns the language ?lang= names, if Convene speaks it.
func queryLanguage(r *http.Request) (string, bool) {
	q := r.URL.Query().Get("lang")
	for _, code := range convene.Languages {
		if q == code {
			return code, true
		}
	}
	return "", false
}

// registrationLanguage returns the language of a personal page: ?lang=,
// else the language the registration was made in.
func registrationLanguage(r *http.Request, reg convene.Registration) string {
	if lang, ok := queryLanguage(r); ok {
		return lang
	}
	return reg.Language
}

// pageBuffers holds the buffers pages are rendered into.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getPageBuffer() *bytes.Buffer { return pageBuffers.Get().(*bytes.Buffer) }

func putPageBuffer(b *bytes.Buffer) {
	if b.Cap() > 256<<10 {
		return
	}
	b.Reset()
	pageBuffers.Put(b)
}

// meetingPath is the path of a meeting's public page. The id comes from
// the request's path, so it is escaped again: an id of a meeting that does
// not exist may hold anything.
func meetingPath(id string) string { return "/m/" + url.PathEscape(id) }

// withLang adds ?lang= to path when the visitor chose the language
// explicitly, so that the next page keeps it.
func withLang(path, lang string, explicit bool) string {
	if !explicit {
		return path
	}
	return path + "?lang=" + url.QueryEscape(lang)
}

// pageCSP is the participant pages' Content-Security-Policy: nothing but
// the stylesheet of this site, no script at all, forms posted here only.
const pageCSP = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securePage sets the headers every participant page carries: no script
// at all, nothing loaded from elsewhere, no framing, no sniffing.
func securePage(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", pageCSP)
}

// privatePage sets the headers of a page whose URL is a secret (the
// personal link) or that answers one visitor: never cached by others,
// never sent on as a referrer.
func privatePage(w http.ResponseWriter) {
	securePage(w)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// publicPage sets the headers of a meeting's public pages, which a CDN
// may cache briefly; their language may follow Accept-Language.
func publicPage(w http.ResponseWriter) {
	securePage(w)
	h := w.Header()
	h.Set("Cache-Control", publicCacheControl)
	h.Set("Vary", "Accept-Language")
	// Same-origin referrers keep the form's Origin header meaningful for
	// cross-origin protection in browsers without Sec-Fetch-Site.
	h.Set("Referrer-Policy", "same-origin")
}

// renderPage renders a page into memory, then answers it with status; a
// page that fails to render is a plain 500, logged.
func renderPage(w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, render func(io.Writer) error) {
	b := getPageBuffer()
	defer putPageBuffer(b)
	if !renderInto(w, r, logger, b, render) {
		return
	}
	writePage(w, status, b.Bytes())
}

// renderInto renders a page into b. When rendering fails it answers a
// plain 500, logs why, and reports false.
func renderInto(w http.ResponseWriter, r *http.Request, logger *slog.Logger, b *bytes.Buffer, render func(io.Writer) error) bool {
	if err := render(b); err != nil {
		logger.Error("render page", "error", err.Error(), "route", r.Pattern, "request_id", requestID(r))
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return false
	}
	return true
}

// writePage answers an HTML page.
func writePage(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// errorPage answers err with an HTML error page in pg's language: the
// status of the error's code, Retry-After where waiting helps, and
// notFound as the reason of a 404. back, when set, links to the meeting.
func errorPage(w http.ResponseWriter, r *http.Request, logger *slog.Logger, cfg Config, pg templates.Page, notFound, back string, err error) {
	code := convene.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	d := templates.ErrorPage{Page: pg, Status: status, Back: back}
	switch code {
	case convene.ENOTFOUND:
		d.Reason, d.Back = notFound, ""
	case convene.ECONFLICT:
		d.Reason = templates.ReasonClosed
	case convene.ETOOLARGE:
		d.Reason = templates.ReasonTooLarge
	case convene.EUNSUPPORTED:
		d.Reason = templates.ReasonUnsupported
	case convene.ETIMEOUT:
		d.Reason = templates.ReasonTimeout
	case convene.ETOOMANY:
		d.Reason = templates.ReasonTooMany
		setRetryAfter(w, err)
		if secs, err := strconv.Atoi(w.Header().Get("Retry-After")); err == nil {
			d.RetryAfter = time.Duration(secs) * time.Second
		}
	case convene.EUNAVAILABLE:
		d.Reason = templates.ReasonUnavailable
		logger.Warn("storage unavailable", "error", err.Error(), "route", r.Pattern, "request_id", requestID(r))
		w.Header().Set("Retry-After", "5")
		d.RetryAfter = 5 * time.Second
	case convene.EINVALID:
		d.Reason = templates.ReasonUnsupported
	default:
		d.Reason = templates.ReasonInternal
		logger.Error("participant page failed", "error", err.Error(), "route", r.Pattern, "request_id", requestID(r))
	}
	w.Header().Set("Cache-Control", "no-store")
	renderPage(w, r, logger, status, func(w io.Writer) error { return cfg.Pages.Error(w, d) })
}

// handleMeetingPage serves a meeting's public page with its registration
// form, or what stops registration instead of the form. A rendered page is
// kept for a second (pageCache); after that, one request renders it anew
// while the others still get the page of the second before.
func handleMeetingPage(logger *slog.Logger, store Store, cfg Config) http.Handler {
	cache := newPageCache(cfg.Now)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		lang, explicit := pageLanguage(r)
		pg := templates.Page{Lang: lang, Path: meetingPath(id)}
		publicPage(w)
		key := lang + "|" + strconv.FormatBool(explicit) + "|" + id
		if body, ok := cache.get(key); ok {
			writePage(w, http.StatusOK, body)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		m, err := store.Meeting(ctx, id)
		if err != nil {
			cache.forget(key)
			errorPage(w, r, logger, cfg, pg, templates.ReasonNoMeeting, "", err)
			return
		}
		d := templates.MeetingPage{Page: pg, Meeting: m, Now: cfg.Now(), Action: withLang(pg.Path, lang, explicit)}
		var b bytes.Buffer // kept by the cache: not a pooled buffer
		if !renderInto(w, r, logger, &b, func(w io.Writer) error { return cfg.Pages.Meeting(w, d) }) {
			cache.forget(key)
			return
		}
		cache.put(key, b.Bytes())
		writePage(w, http.StatusOK, b.Bytes())
	})
}

// handleRegisteredPage serves "check your inbox", the page the form
// redirects to. It is the same for everyone: it never tells whether an
// address is registered.
func handleRegisteredPage(logger *slog.Logger, store Store, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		lang, explicit := pageLanguage(r)
		pg := templates.Page{Lang: lang, Path: meetingPath(id) + "/registered"}
		publicPage(w)
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		m, err := store.Meeting(ctx, id)
		if err != nil {
			errorPage(w, r, logger, cfg, pg, templates.ReasonNoMeeting, "", err)
			return
		}
		d := templates.RegisteredPage{Page: pg, Meeting: m, Back: withLang("/m/"+id, lang, explicit)}
		renderPage(w, r, logger, http.StatusOK, func(w io.Writer) error { return cfg.Pages.Registered(w, d) })
	})
}

// handleRegisterForm takes the registration form, POST /m/{id}: the same
// path as the JSON intake (register), answered in HTML. New or already
// registered, the answer is the same 303 to "check your inbox"; an address
// already registered gets its notice again under the resend rule.
func handleRegisterForm(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		lang, explicit := pageLanguage(r)
		pg := templates.Page{Lang: lang, Path: meetingPath(id)}
		back := withLang(pg.Path, lang, explicit)
		privatePage(w)
		in, err := decodeForm(w, r)
		if err != nil {
			cfg.Metrics.Registration("rejected")
			errorPage(w, r, logger, cfg, pg, templates.ReasonNoMeeting, back, err)
			return
		}
		if r.PostForm.Get(honeypotField) != "" {
			// A robot: it sees what a person would, and nothing is stored.
			cfg.Metrics.Registration("honeypot")
			annotate(r, slog.Bool("honeypot", true))
			http.Redirect(w, r, withLang(pg.Path+"/registered", lang, explicit), http.StatusSeeOther)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		reg, created, err := register(ctx, r, logger, store, queue, cfg, id, in)
		switch {
		case convene.ErrorCode(err) == convene.EINVALID:
			m, merr := store.Meeting(ctx, id)
			if merr != nil {
				errorPage(w, r, logger, cfg, pg, templates.ReasonNoMeeting, "", merr)
				return
			}
			d := templates.MeetingPage{Page: pg, Meeting: m, Now: cfg.Now(), Form: in, Problems: in.Problems(), Action: back}
			renderPage(w, r, logger, http.StatusBadRequest, func(w io.Writer) error { return cfg.Pages.Meeting(w, d) })
			return
		case err != nil:
			errorPage(w, r, logger, cfg, pg, templates.ReasonNoMeeting, back, err)
			return
		case !created:
			// The page must not tell that the address was registered: it
			// answers as for a new one, and the participant gets their
			// notice again (at most once per resend period).
			intents, err := store.Resend(ctx, id, reg.Email)
			if err != nil {
				logger.Warn("resend after a repeated form failed", "error", err.Error(), "meeting_id", id, "request_id", requestID(r))
			}
			dispatch(ctx, r, logger, store, queue, intents)
		}
		http.Redirect(w, r, withLang(pg.Path+"/registered", lang, explicit), http.StatusSeeOther)
	})
}

// decodeForm reads a registration form: application/x-www-form-urlencoded
// only, at most MaxBodyBytes.
func decodeForm(w http.ResponseWriter, r *http.Request) (convene.RegistrationInput, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return convene.RegistrationInput{}, convene.Errorf(convene.EUNSUPPORTED, "Content-Type must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooLarge):
			return convene.RegistrationInput{}, convene.Errorf(convene.ETOOLARGE, "request body must be at most %d bytes", MaxBodyBytes)
		case errors.As(err, &netErr) && netErr.Timeout():
			return convene.RegistrationInput{}, convene.Errorf(convene.ETIMEOUT, "the request body did not arrive in time")
		}
		return convene.RegistrationInput{}, convene.Errorf(convene.EINVALID, "the form cannot be read")
	}
	f := r.PostForm
	return convene.RegistrationInput{
		Name:         f.Get("name"),
		Email:        f.Get("email"),
		Organisation: f.Get("organisation"),
		Language:     f.Get("language"),
	}, nil
}

// handleStylesheet serves the pages' stylesheet. Its path names its
// content, so it may be cached for good.
func handleStylesheet() http.Handler {
	css := templates.Stylesheet()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(css)))
		_, _ = w.Write(css)
	})
}

// crossOriginOnly refuses cross-origin form posts (Go's
// http.CrossOriginProtection: Sec-Fetch-Site, else Origin against Host)
// with a 403 page.
func crossOriginOnly(logger *slog.Logger, cfg Config, next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang, _ := pageLanguage(r)
		privatePage(w)
		path := meetingPath(r.PathValue("id"))
		d := templates.ErrorPage{Page: templates.Page{Lang: lang, Path: path}, Status: http.StatusForbidden, Reason: templates.ReasonForbidden, Back: path}
		cfg.Metrics.Registration("rejected")
		renderPage(w, r, logger, http.StatusForbidden, func(w io.Writer) error { return cfg.Pages.Error(w, d) })
	}))
	return p.Handler(next)
}
