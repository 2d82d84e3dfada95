package templates

import "io/fs"

// NewFS is New reading the templates from fsys instead of the embedded
// files, so that tests can break them and watch New refuse.
func NewFS(opts Options, fsys fs.FS) (*Renderer, error) {
	cat, err := NewCatalogue()
	if err != nil {
		return nil, err
	}
	return newFS(opts, fsys, cat)
}

// NewCatalogueFS is NewCatalogue reading locales/*.toml from fsys.
var NewCatalogueFS = newCatalogue
