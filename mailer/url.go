package mailer

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

// destination is a parsed MAIL_URL.
type destination struct {
	scheme      string // "smtp", "smtps" or "file"
	host        string
	port        int
	implicitTLS bool
	user, pass  string
	dir         string // file outbox
}

// addr returns host:port for logs and errors.
func (d destination) addr() string {
	return fmt.Sprintf("%s:%d", d.host, d.port)
}

// parseURL parses MAIL_URL. Its errors never contain the password.
func parseURL(raw string) (destination, error) {
	if raw == "" {
		return destination{}, errors.New("mail URL is empty: want smtp://host[:port], smtps://host[:port] or file:///dir")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only
		// what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return destination{}, fmt.Errorf("mail URL cannot be parsed: %v", err)
	}
	switch u.Scheme {
	case "smtp", "smtps":
		return parseSMTP(u)
	case "file":
		return parseFile(u)
	case "":
		return destination{}, errors.New("mail URL has no scheme: want smtp://, smtps:// or file://")
	default:
		return destination{}, fmt.Errorf("mail URL has unknown scheme %q: want smtp, smtps or file", u.Scheme)
	}
}

func parseSMTP(u *url.URL) (destination, error) {
	d := destination{scheme: u.Scheme, port: 25}
	if u.Scheme == "smtps" {
		d.implicitTLS, d.port = true, 465
	}
	if u.Opaque != "" {
		return d, fmt.Errorf("mail URL: want %s://host[:port]", u.Scheme)
	}
	if d.host = u.Hostname(); d.host == "" {
		return d, fmt.Errorf("mail URL has no host: want %s://[user:pass@]host[:port]", u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return d, fmt.Errorf("mail URL has invalid port %q: want 1-65535", p)
		}
		d.port = n
	}
	if u.Path != "" && u.Path != "/" {
		return d, fmt.Errorf("mail URL: unexpected path %q after the host", u.Path)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return d, errors.New("mail URL: query and fragment are not supported")
	}
	if u.User != nil {
		d.user = u.User.Username()
		d.pass, _ = u.User.Password()
		if d.user == "" {
			return d, errors.New("mail URL has a password but no user name")
		}
	}
	return d, nil
}

// parseFile accepts file:///abs/dir, file://localhost/abs/dir and, for
// relative directories, file://./dir (url.Parse puts "." in Host) and
// file:dir.
func parseFile(u *url.URL) (destination, error) {
	d := destination{scheme: "file"}
	path := u.Path
	switch {
	case u.Opaque != "":
		path = u.Opaque
	case u.Host == "" || u.Host == "localhost":
	case u.Host == "." || u.Host == "..":
		path = u.Host + u.Path
	default:
		return d, fmt.Errorf("mail URL: file URL with host %q: want file:///abs/dir or file://./relative/dir", u.Host)
	}
	if path == "" {
		return d, errors.New("mail URL: file URL has no directory: want file:///abs/dir or file://./relative/dir")
	}
	d.dir = filepath.Clean(path)
	return d, nil
}

// ensureDir creates the outbox directory if it is missing and checks that
// it is a directory.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
