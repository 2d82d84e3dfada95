package templates_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"

	"github.com/BurntSushi/toml"

	"convene"
	"convene/templates"
)

// catalogueFile reads locales/{lang}.toml as TOML: each key's text, or its
// plural forms.
func catalogueFile(t *testing.T, lang string) map[string]map[string]string {
	t.Helper()
	var raw map[string]any
	if _, err := toml.DecodeFile(filepath.Join("locales", lang+".toml"), &raw); err != nil {
		t.Fatalf("locales/%s.toml: %v", lang, err)
	}
	out := map[string]map[string]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			switch v := v.(type) {
			case string:
				out[key] = map[string]string{"other": v}
			case map[string]any:
				forms := map[string]string{}
				plural := true
				for f, s := range v {
					str, ok := s.(string)
					if !ok || !slices.Contains([]string{"zero", "one", "two", "few", "many", "other", "description"}, f) {
						plural = false
						break
					}
					if f != "description" {
						forms[f] = str
					}
				}
				if plural {
					out[key] = forms
				} else {
					walk(key, v)
				}
			default:
				t.Fatalf("locales/%s.toml: %s is a %T, want text or plural forms", lang, key, v)
			}
		}
	}
	walk("", raw)
	return out
}

func TestCatalogueEveryLanguageHasEveryKeyWithTheSamePlaceholders(t *testing.T) {
	t.Parallel()
	en := catalogueFile(t, "en")
	if len(en) < 100 {
		t.Fatalf("the English catalogue has %d keys, want the whole product's words", len(en))
	}
	for _, lang := range convene.Languages[1:] {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			cat := catalogueFile(t, lang)
			for key, forms := range en {
				got, ok := cat[key]
				if !ok {
					t.Errorf("%s: key %q is missing", lang, key)
					continue
				}
				want := templates.Placeholders(forms["other"])
				for form, text := range got {
					ph := templates.Placeholders(text)
					if len(forms) > 1 && form != "other" {
						// A plural form may say the number in words ("يومان").
						ph = slices.DeleteFunc(ph, func(p string) bool { return p == ".Count" })
						want := slices.DeleteFunc(slices.Clone(want), func(p string) bool { return p == ".Count" })
						if !slices.Equal(ph, want) {
							t.Errorf("%s: %s (%s) has placeholders %v, want %v: %q", lang, key, form, ph, want, text)
						}
						continue
					}
					if !slices.Equal(ph, want) {
						t.Errorf("%s: %s has placeholders %v, want %v as in English: %q", lang, key, ph, want, text)
					}
				}
				if len(forms) > 1 && got["other"] == "" {
					t.Errorf("%s: plural %s has no \"other\" form", lang, key)
				}
			}
			for key := range cat {
				if _, ok := en[key]; !ok {
					t.Errorf("%s: key %q is not in the English catalogue", lang, key)
				}
			}
		})
	}
}

// sameAsEnglish lists the texts a language may write as English does.
var sameAsEnglish = map[string][]string{
	"fr": {"registration.organisation", "duration.minutes"},
	"es": {},
}

// scripts are the writing systems a language's every text must use.
var scripts = map[string]*unicode.RangeTable{
	"ru": unicode.Cyrillic,
	"ar": unicode.Arabic,
	"zh": unicode.Han,
}

func TestCatalogueHoldsNoEnglishOutsideEnglish(t *testing.T) {
	t.Parallel()
	en := catalogueFile(t, "en")
	for _, lang := range convene.Languages[1:] {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			cat := catalogueFile(t, lang)
			for key, forms := range cat {
				for form, text := range forms {
					words := letters(text)
					if words == "" {
						continue // a pattern of placeholders and punctuation
					}
					if text == en[key]["other"] || text == en[key][form] {
						if !slices.Contains(sameAsEnglish[lang], key) {
							t.Errorf("%s: %s is still the English %q", lang, key, text)
						}
						continue
					}
					if script := scripts[lang]; script != nil && !strings.ContainsFunc(words, func(r rune) bool { return unicode.Is(script, r) }) {
						t.Errorf("%s: %s (%s) has no letter of the language's script: %q", lang, key, form, text)
					}
				}
			}
		})
	}
}

// letters returns the letters of text outside its placeholders and the
// names Convene keeps in every language.
func letters(text string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, "{{")
		if i < 0 {
			break
		}
		b.WriteString(text[:i])
		j := strings.Index(text[i:], "}}")
		if j < 0 {
			break
		}
		text = text[i+j+2:]
	}
	b.WriteString(text)
	s := strings.ReplaceAll(b.String(), "name@example.org", "")
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, s)
}

func TestCatalogueTextsHoldNoMarkup(t *testing.T) {
	t.Parallel()
	for _, lang := range convene.Languages {
		for key, forms := range catalogueFile(t, lang) {
			for _, text := range forms {
				if strings.ContainsAny(text, "<>") || text != strings.TrimSpace(text) || text == "" {
					t.Errorf("%s: %s = %q: want plain text without markup or surrounding space", lang, key, text)
				}
			}
		}
	}
}

func TestCataloguePluralsRenderForEveryCount(t *testing.T) {
	t.Parallel()
	cat, err := templates.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	en := catalogueFile(t, "en")
	var plurals []string
	for key, forms := range en {
		if len(forms) > 1 {
			plurals = append(plurals, key)
		}
	}
	if len(plurals) == 0 {
		t.Fatal("no plural messages")
	}
	counts := []int{1000000, 1000001, 2000000}
	for n := range 250 {
		counts = append(counts, n)
	}
	for _, l := range cat.Languages() {
		for _, key := range plurals {
			for _, n := range counts {
				s, err := l.N(key, n)
				if err != nil || s == "" {
					t.Errorf("%s: %s for %d: %q, %v", l.Code, key, n, s, err)
					break
				}
			}
		}
	}
	// The forms differ where the language says so.
	ru := cat.Language("ru")
	for n, want := range map[int]string{1: "1 день", 2: "2 дня", 5: "5 дней", 21: "21 день", 22: "22 дня", 11: "11 дней"} {
		if got, _ := ru.N("duration.days", n); got != want {
			t.Errorf("ru: %d days = %q, want %q", n, got, want)
		}
	}
}

func TestCatalogueRefusesAMissingOrStrayKey(t *testing.T) {
	t.Parallel()
	files := func() fstest.MapFS {
		f := fstest.MapFS{}
		for _, lang := range convene.Languages {
			b, err := os.ReadFile(filepath.Join("locales", lang+".toml"))
			if err != nil {
				t.Fatal(err)
			}
			f["locales/"+lang+".toml"] = &fstest.MapFile{Data: b}
		}
		return f
	}
	if _, err := templates.NewCatalogueFS(files()); err != nil {
		t.Fatalf("the catalogues as they are: %v", err)
	}
	missing := files()
	missing["locales/ar.toml"].Data = []byte(strings.Replace(string(missing["locales/ar.toml"].Data), `"form.submit"`, `"form.submitt"`, 1))
	if _, err := templates.NewCatalogueFS(missing); err == nil || !strings.Contains(err.Error(), "ar.toml") {
		t.Errorf("a renamed key in ar.toml: error %v", err)
	}
	gone := files()
	delete(gone, "locales/zh.toml")
	if _, err := templates.NewCatalogueFS(gone); err == nil || !strings.Contains(err.Error(), "zh") {
		t.Errorf("no zh catalogue: error %v", err)
	}
}

func TestCatalogueDatesComeFromCLDR(t *testing.T) {
	t.Parallel()
	cat, err := templates.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	m := meeting() // 1 December 2026, 09:00–17:00 in Zurich
	for lang, want := range map[string][]string{
		"en": {"Tuesday, 1 December 2026", "09:00", "17:00", "Europe/Zurich"},
		"fr": {"mardi 1 décembre 2026", "09:00", "17:00", "Europe/Zurich"},
		"es": {"martes, 1 de diciembre de 2026", "9:00", "17:00", "Europe/Zurich"},
		"ru": {"вторник, 1 декабря 2026 г.", "09:00", "17:00", "Europe/Zurich"},
		"ar": {"الثلاثاء، 1 ديسمبر 2026", "9:00 ص", "5:00 م", "Europe/Zurich"},
		"zh": {"2026年12月1日星期二", "上午9:00", "下午5:00", "Europe/Zurich"},
	} {
		got, err := cat.Language(lang).When(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: When = %q, want it to contain %q", lang, got, w)
			}
		}
	}
}
