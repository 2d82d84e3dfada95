package templates_test

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"convene"
	"convene/templates"
)

// templateFiles returns a copy of the templates New embeds.
func templateFiles(t *testing.T) fstest.MapFS {
	t.Helper()
	names, err := fs.Glob(os.DirFS("."), "*.tmpl")
	if err != nil || len(names) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	files := fstest.MapFS{}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = &fstest.MapFile{Data: b}
	}
	return files
}

func TestNewAcceptsTheTemplates(t *testing.T) {
	t.Parallel()
	if _, err := templates.NewFS(templates.Options{From: sender}, templateFiles(t)); err != nil {
		t.Fatalf("NewFS: %v", err)
	}
}

func TestNewFailsFast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(fstest.MapFS)
		wantErr string
	}{
		{
			name:    "kind without its templates",
			change:  func(f fstest.MapFS) { delete(f, "reminder.txt.tmpl") },
			wantErr: "reminder.txt.tmpl",
		},
		{
			name:    "text without HTML",
			change:  func(f fstest.MapFS) { delete(f, "updated.html.tmpl") },
			wantErr: "updated.html.tmpl",
		},
		{
			name:    "no common templates",
			change:  func(f fstest.MapFS) { delete(f, "common.html.tmpl") },
			wantErr: "common.html.tmpl",
		},
		{
			name:    "no layout",
			change:  func(f fstest.MapFS) { delete(f, "layout.html.tmpl") },
			wantErr: "layout.html.tmpl",
		},
		{
			name: "parse error",
			change: func(f fstest.MapFS) {
				f["confirmation.txt.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "subject"}}{{.Title}{{end}}`)}
			},
			wantErr: "parse confirmation.txt.tmpl",
		},
		{
			name: "unknown field",
			change: func(f fstest.MapFS) {
				f["waitlisted.html.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{.Postion}}{{end}}`)}
			},
			wantErr: "waitlisted.en html",
		},
		{
			name: "unknown message",
			change: func(f fstest.MapFS) {
				f["promoted.html.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{t "promoted.bodyy"}}{{end}}`)}
			},
			wantErr: `"promoted.bodyy"`,
		},
		{
			name: "a message missing its placeholder",
			change: func(f fstest.MapFS) {
				f["promoted.html.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{t "email.hello" "Name"}}{{end}}`)}
			},
			wantErr: "pairs",
		},
		{
			name: "unknown field in a branch",
			change: func(f fstest.MapFS) {
				f["cancelled.txt.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "subject"}}x{{end}}{{define "text"}}{{if .MeetingCancelled}}{{.Reason}}{{end}}{{end}}`)}
			},
			wantErr: "cancelled.en text",
		},
		{
			name: "HTML that ends inside an attribute",
			change: func(f fstest.MapFS) {
				f["promoted.html.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "content"}}<a href="{{.Link}}{{end}}`)}
			},
			wantErr: "promoted",
		},
		{
			name: "no subject",
			change: func(f fstest.MapFS) {
				f["promoted.txt.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "text"}}x{{end}}`)}
			},
			wantErr: `promoted.txt.tmpl does not define "subject"`,
		},
		{
			name:    "misspelt kind",
			change:  func(f fstest.MapFS) { f["confirmaton.txt.tmpl"] = f["confirmation.txt.tmpl"] },
			wantErr: `unknown email kind "confirmaton"`,
		},
		{
			name:    "a copy per language",
			change:  func(f fstest.MapFS) { f["confirmation.fr.txt.tmpl"] = f["confirmation.txt.tmpl"] },
			wantErr: "confirmation.fr.txt.tmpl: want a name like",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := templateFiles(t)
			tt.change(files)
			_, err := templates.NewFS(templates.Options{From: sender}, files)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewFS error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewNeedsASenderDomain(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"", "no-reply", "no-reply@", "@example.org", "Convene <no-reply@example.org>"} {
		if _, err := templates.New(templates.Options{From: convene.Address{Name: "Convene", Address: addr}}); err == nil {
			t.Errorf("From %q: no error", addr)
		}
	}
}
