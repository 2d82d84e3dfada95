// Package templates renders what Convene shows people: the emails to
// participants, the digests to organisers (digest.{lang}.*.tmpl, see
// Renderer.Digest), and the participant's personal pages (pages/*.tmpl,
// see Pages).
//
// The templates are embedded in the binary (see the *.tmpl files in this
// folder) and parsed once, in New, which fails if any of them does not parse,
// does not execute on sample data, or if a participant email kind has no
// English version. Each kind has a plain-text part with its subject
// ({kind}.{lang}.txt.tmpl, executed with text/template) and an HTML part
// ({kind}.{lang}.html.tmpl, executed with html/template inside the shared
// layout.html.tmpl). Wording shared by every kind of one language (the
// meeting details, the personal link, the footer, the calendar description)
// lives in common.{lang}.txt.tmpl and common.{lang}.html.tmpl. A language
// without its own files falls back to English.
//
// Participant-supplied text (names, organisations, titles, locations,
// reminder messages) reaches the templates only as data: it is never parsed
// as template source, and the HTML part escapes it.
//
// Calendar entries (.ics) are built with github.com/arran4/golang-ical.
package templates
