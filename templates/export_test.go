package templates

// NewFS is New reading the templates from fsys instead of the embedded
// files, so that tests can break them and watch New refuse.
var NewFS = newFS
