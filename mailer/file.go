package mailer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"convene"
)

// writeFile writes the message into the outbox as <name>.eml, atomically: a
// temporary file renamed over the final name, so a resend of the same
// Message-ID replaces the file and a reader never sees half a message.
func (m *Mailer) writeFile(ctx context.Context, p *prepared) error {
	fail := func(err error) error {
		return &convene.SendError{Reason: convene.ReasonTemporary, Err: fmt.Errorf("outbox %s: %w", m.outbox, err)}
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("not written: %w", err))
	}
	if err := ensureDir(m.outbox); err != nil {
		return fail(err)
	}
	tmp, err := os.CreateTemp(m.outbox, ".tmp-*")
	if err != nil {
		return fail(err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := m.message(p).WriteTo(tmp); err != nil {
		return fail(fmt.Errorf("write %s: %w", tmp.Name(), err))
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	final := filepath.Join(m.outbox, fileName(p.messageID))
	if err := os.Rename(tmp.Name(), final); err != nil {
		_ = os.Remove(tmp.Name())
		done = true
		return fail(err)
	}
	done = true
	m.log.Debug("wrote email to outbox", "file", final, "kind", p.e.Kind)
	return nil
}

// fileName maps a Message-ID to a safe file name: letters, digits and
// ".-_@+=" are kept, anything else becomes "_". When anything was replaced
// (or the name is long) a short hash of the full ID is appended, so that two
// IDs never share a file; the same ID always maps to the same name.
func fileName(id string) string {
	var b strings.Builder
	changed := false
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == '_', c == '@', c == '+', c == '=':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
			changed = true
		}
	}
	name := b.String()
	if strings.HasPrefix(name, ".") { // no hidden files, no "." or ".."
		name = "_" + name[1:]
		changed = true
	}
	if len(name) > 150 {
		name = name[:150]
		changed = true
	}
	if changed || name == "" {
		sum := sha256.Sum256([]byte(id))
		name += "-" + hex.EncodeToString(sum[:6])
	}
	return name + ".eml"
}
