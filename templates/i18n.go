package templates

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/go-playground/locales"
	"github.com/go-playground/locales/ar"
	"github.com/go-playground/locales/en_GB"
	"github.com/go-playground/locales/es"
	"github.com/go-playground/locales/fr"
	"github.com/go-playground/locales/ru"
	"github.com/go-playground/locales/zh"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"convene"
)

// localeFiles holds the message catalogues, one TOML file per language
// (locales/{lang}.toml), read with go-i18n.
//
//go:embed locales/*.toml
var localeFiles embed.FS

// languageInfo is what Convene knows of a language besides its words: its
// CLDR data for dates and times, its direction, and its name in itself (for
// language switches, which show each language in its own words).
type languageInfo struct {
	cldr     func() locales.Translator
	rtl      bool
	selfName string
}

var languageInfos = map[string]languageInfo{
	"en": {cldr: en_GB.New, selfName: "English"},
	"fr": {cldr: fr.New, selfName: "Français"},
	"es": {cldr: es.New, selfName: "Español"},
	"ru": {cldr: ru.New, selfName: "Русский"},
	"ar": {cldr: ar.New, rtl: true, selfName: "العربية"},
	"zh": {cldr: zh.New, selfName: "中文"},
}

// Language is one language's words and conventions: the catalogue's
// messages, CLDR date and time formats, and its direction. Languages are
// built once, by NewCatalogue, and are safe for concurrent use.
type Language struct {
	// Code is the language's code, such as "fr".
	Code string
	// Dir is the text direction, "ltr" or "rtl", for <html dir>.
	Dir string
	// Name is the language's name in itself, such as "Français".
	Name string

	localizer *i18n.Localizer
	cldr      locales.Translator
	// messages holds every message that is not a plural, compiled once
	// into its text and placeholders; T fills them without running a
	// template. Plurals go through go-i18n, which picks the CLDR form.
	messages map[string]message
}

// message is a compiled message: literal text and placeholders, in order.
type message []segment

// segment is literal text, or the name of a placeholder when hole is true.
type segment struct {
	text string
	hole bool
}

// compile splits a message's text into literal text and {{.Name}}
// placeholders. Anything else in {{ }} is refused: the catalogues hold
// words, not logic.
func compile(key, text string) (message, error) {
	var out message
	for {
		i := strings.Index(text, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(text[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("templates: message %q: unclosed {{", key)
		}
		name, ok := strings.CutPrefix(strings.TrimSpace(text[i+2:i+j]), ".")
		if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' }) {
			return nil, fmt.Errorf("templates: message %q: %q is not a placeholder such as {{.Name}}", key, text[i:i+j+2])
		}
		if i > 0 {
			out = append(out, segment{text: text[:i]})
		}
		out = append(out, segment{text: name, hole: true})
		text = text[i+j+2:]
	}
	if text != "" {
		out = append(out, segment{text: text})
	}
	return out, nil
}

// static returns the message's text when it has no placeholder.
func (m message) static() (string, bool) {
	switch {
	case len(m) == 0:
		return "", true
	case len(m) == 1 && !m[0].hole:
		return m[0].text, true
	}
	return "", false
}

// Catalogue is the messages of every language Convene speaks
// (convene.Languages), from the embedded locales/*.toml files.
type Catalogue struct {
	langs map[string]*Language
	// keys lists every message key of the English catalogue, sorted.
	keys []string
}

// NewCatalogue reads the embedded catalogues. It fails if a language of
// convene.Languages has no catalogue, or if a catalogue does not parse, has
// a key the English one lacks or lacks one it has.
func NewCatalogue() (*Catalogue, error) {
	return newCatalogue(localeFiles)
}

func newCatalogue(fsys fs.FS) (*Catalogue, error) {
	bundle := i18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	files := map[string]*i18n.MessageFile{}
	for _, code := range convene.Languages {
		name := path.Join("locales", code+".toml")
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("templates: the %s catalogue: %w", code, err)
		}
		mf, err := bundle.ParseMessageFileBytes(src, name)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", name, err)
		}
		files[code] = mf
	}
	c := &Catalogue{langs: map[string]*Language{}}
	english := map[string]*i18n.Message{}
	for _, m := range files[convene.DefaultLanguage].Messages {
		english[m.ID] = m
		c.keys = append(c.keys, m.ID)
	}
	slices.Sort(c.keys)
	for _, code := range convene.Languages {
		have := map[string]bool{}
		for _, m := range files[code].Messages {
			if english[m.ID] == nil {
				return nil, fmt.Errorf("templates: locales/%s.toml: key %q is not in the English catalogue", code, m.ID)
			}
			have[m.ID] = true
		}
		for _, k := range c.keys {
			if !have[k] {
				return nil, fmt.Errorf("templates: locales/%s.toml: key %q is missing", code, k)
			}
		}
		info := languageInfos[code]
		l := &Language{
			Code:      code,
			Dir:       "ltr",
			Name:      info.selfName,
			localizer: i18n.NewLocalizer(bundle, code),
			cldr:      info.cldr(),
			messages:  map[string]message{},
		}
		if info.rtl {
			l.Dir = "rtl"
		}
		for _, m := range files[code].Messages {
			if len(messageForms(english[m.ID])) > 1 {
				continue // a plural
			}
			compiled, err := compile(m.ID, m.Other)
			if err != nil {
				return nil, fmt.Errorf("%w (locales/%s.toml)", err, code)
			}
			l.messages[m.ID] = compiled
		}
		c.langs[code] = l
	}
	return c, nil
}

// Language returns the language of code, or English when Convene does not
// speak it.
func (c *Catalogue) Language(code string) *Language {
	if l, ok := c.langs[code]; ok {
		return l
	}
	return c.langs[convene.DefaultLanguage]
}

// Languages returns every language, in the order of convene.Languages.
func (c *Catalogue) Languages() []*Language {
	out := make([]*Language, 0, len(convene.Languages))
	for _, code := range convene.Languages {
		out = append(out, c.langs[code])
	}
	return out
}

// T returns the message key in l, with its placeholders filled from kv:
// pairs of a placeholder's name and its value ("Title", "Side event").
// Values are plain text; HTML templates escape the result.
func (l *Language) T(key string, kv ...any) (string, error) {
	m, ok := l.messages[key]
	if !ok {
		return "", fmt.Errorf("templates: no message %q in %s", key, l.Code)
	}
	if s, ok := m.static(); ok {
		return s, nil
	}
	if len(kv)%2 != 0 {
		return "", fmt.Errorf("templates: message %q: placeholders come in name-value pairs", key)
	}
	var b strings.Builder
	for _, seg := range m {
		if !seg.hole {
			b.WriteString(seg.text)
			continue
		}
		found := false
		for i := 0; i < len(kv); i += 2 {
			if name, _ := kv[i].(string); name == seg.text {
				open, end := l.isolate(seg.text)
				b.WriteString(open)
				b.WriteString(text(kv[i+1]))
				b.WriteString(end)
				found = true
				break
			}
		}
		if !found {
			return "", fmt.Errorf("templates: message %q in %s: no value for {{.%s}}", key, l.Code, seg.text)
		}
	}
	return b.String(), nil
}

// Unicode's first-strong isolate and its end: text between them takes its
// direction from itself, whatever surrounds it.
const (
	firstStrongIsolate = "\u2068"
	popIsolate         = "\u2069"
)

// isolate returns what goes around the value of placeholder name in l: in
// a right-to-left language, a first-strong isolate, so that a Latin name,
// title or time zone ("Europe/Zurich") with its punctuation keeps its
// order inside Arabic text; nothing for links (a link must be only the
// address) or in other languages.
func (l *Language) isolate(name string) (open, end string) {
	if l.Dir != "rtl" || name == "Link" || name == "URL" {
		return "", ""
	}
	return firstStrongIsolate, popIsolate
}

// Static returns the message key in l when it has no placeholder.
func (l *Language) static(key string) (string, bool) {
	if m, ok := l.messages[key]; ok {
		return m.static()
	}
	return "", false
}

// text formats a placeholder's value.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// N returns the plural message key in l for count, such as "3 days": the
// form follows the language's CLDR plural rules, and the placeholder
// {{.Count}} is count.
func (l *Language) N(key string, count int, kv ...any) (string, error) {
	data, err := pairs(key, kv)
	if err != nil {
		return "", err
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Count"] = l.cldr.FmtNumber(float64(count), 0)
	return l.localize(&i18n.LocalizeConfig{MessageID: key, TemplateData: data, PluralCount: count})
}

func (l *Language) localize(lc *i18n.LocalizeConfig) (string, error) {
	s, err := l.localizer.Localize(lc)
	if err != nil {
		return "", fmt.Errorf("templates: message %q in %s: %w", lc.MessageID, l.Code, err)
	}
	return s, nil
}

func pairs(key string, kv []any) (map[string]any, error) {
	if len(kv) == 0 {
		return nil, nil
	}
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("templates: message %q: placeholders come in name-value pairs", key)
	}
	data := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		name, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("templates: message %q: placeholder name %v is not a string", key, kv[i])
		}
		data[name] = kv[i+1]
	}
	return data, nil
}

// Date formats the day of t in l by CLDR's full date pattern, such as
// "Monday, 1 March 2027", "lundi 1 mars 2027" or "2027年3月1日星期一".
func (l *Language) Date(t time.Time) string { return l.cldr.FmtDateFull(t) }

// Time formats the time of day of t in l by CLDR's short time pattern, such
// as "09:00" or "上午9:00".
func (l *Language) Time(t time.Time) string { return l.cldr.FmtTimeShort(t) }

// When formats a meeting's start and end in its time zone, naming the zone:
// "Monday, 1 March 2027, 09:00–17:00 (Europe/Zurich time)". A meeting
// without an end shows its start only; one that ends on another day shows
// both dates.
func (l *Language) When(m convene.Meeting) (string, error) {
	loc := m.Zone()
	start := m.StartsAt.In(loc)
	var s string
	var err error
	switch {
	case m.EndsAt == nil:
		s, err = l.T("time.at", "Date", l.Date(start), "Time", l.Time(start))
	case sameDay(start, m.EndsAt.In(loc)):
		s, err = l.T("time.same_day", "Date", l.Date(start), "Start", l.Time(start), "End", l.Time(m.EndsAt.In(loc)))
	default:
		end := m.EndsAt.In(loc)
		var from, to string
		if from, err = l.T("time.at", "Date", l.Date(start), "Time", l.Time(start)); err != nil {
			return "", err
		}
		if to, err = l.T("time.at", "Date", l.Date(end), "Time", l.Time(end)); err != nil {
			return "", err
		}
		s, err = l.T("time.span", "Start", from, "End", to)
	}
	if err != nil {
		return "", err
	}
	return l.T("time.zone", "When", s, "Zone", loc.String())
}

// Instant formats one moment in loc, naming the zone:
// "Monday, 1 March 2027, 09:00 (Europe/Zurich time)".
func (l *Language) Instant(t time.Time, loc *time.Location) (string, error) {
	t = t.In(loc)
	s, err := l.T("time.at", "Date", l.Date(t), "Time", l.Time(t))
	if err != nil {
		return "", err
	}
	return l.T("time.zone", "When", s, "Zone", loc.String())
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// Duration says how long d is, to the minute, in at most two units: "1 day",
// "2 days and 3 hours", "1 hour and 30 minutes", "15 minutes". It returns ""
// when d rounds to zero or less. Durations are rounded so that a reminder
// sent a few seconds late still says "1 day".
func (l *Language) Duration(d time.Duration) (string, error) {
	join := func(a int, akey string, b int, bkey string) (string, error) {
		first, err := l.N(akey, a)
		if err != nil || b == 0 {
			return first, err
		}
		second, err := l.N(bkey, b)
		if err != nil {
			return "", err
		}
		return l.T("duration.and", "A", first, "B", second)
	}
	switch {
	case d.Round(time.Minute) <= 0:
		return "", nil
	case d.Round(time.Hour) >= 24*time.Hour:
		h := int(d.Round(time.Hour) / time.Hour)
		return join(h/24, "duration.days", h%24, "duration.hours")
	case d.Round(time.Minute) >= time.Hour:
		m := int(d.Round(time.Minute) / time.Minute)
		return join(m/60, "duration.hours", m%60, "duration.minutes")
	default:
		return l.N("duration.minutes", int(d.Round(time.Minute)/time.Minute))
	}
}

// messageForms returns the texts of m's plural forms that are set, keyed by
// form name ("zero", "one", "two", "few", "many", "other").
func messageForms(m *i18n.Message) map[string]string {
	out := map[string]string{}
	for name, s := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other} {
		if s != "" {
			out[name] = s
		}
	}
	return out
}

// Placeholders returns the sorted, distinct names of the {{.Name}}
// placeholders in s.
func Placeholders(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			out = append(out, "unclosed "+strconv.Quote(s[i:]))
			break
		}
		out = append(out, strings.TrimSpace(s[i+2:i+j]))
		s = s[i+j+2:]
	}
	slices.Sort(out)
	return slices.Compact(out)
}
