package handlers

import (
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"convene"
	"convene/templates"
)

func organiserFor(cfg Config, token string) (string, error) {
	scope, orgID, ok := cfg.Signer.Verify(token)
	if !ok || scope != convene.DigestTokenScope {
		return "", convene.Errorf(convene.ENOTFOUND, "this link is not valid")
	}
	return orgID, nil
}

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer"><title>Convene digests</title>
<link rel="stylesheet" href="` + templates.StylesheetPath + `"></head>
<body><main>
{{if .Done}}<h1>You are unsubscribed</h1><p>You will receive no more Convene digests at this address.</p>
{{else}}<h1>Stop Convene digests?</h1><p>You receive a digest of the registrations for the meetings you organise.</p>
<form method="post" action="{{.Action}}"><button type="submit" class="primary">Unsubscribe from digests</button></form>{{end}}
</main></body></html>`))

// handleUnsubscribePage shows the unsubscribe button; a GET changes
// nothing (mail scanners follow links).
func handleUnsubscribePage(logger *slog.Logger, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := organiserFor(cfg, r.PathValue("token")); err != nil {
			pageError(w, r, logger, cfg, "/v1/digests/unsubscribe/"+r.PathValue("token"), err)
			return
		}
		privatePage(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = unsubscribePage.Execute(w, map[string]any{"Action": "/v1/digests/unsubscribe/" + r.PathValue("token")})
	})
}

// handleUnsubscribe stops the digests to the organiser a token names: the
// one-click POST of RFC 8058 (List-Unsubscribe=One-Click) and the page's
// button alike. Unsubscribing twice is fine.
func handleUnsubscribe(logger *slog.Logger, store Store, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orgID, err := organiserFor(cfg, r.PathValue("token"))
		if err != nil {
			pageError(w, r, logger, cfg, "/v1/digests/unsubscribe/"+r.PathValue("token"), err)
			return
		}
		if err := store.Unsubscribe(r.Context(), orgID); err != nil {
			pageError(w, r, logger, cfg, "/v1/digests/unsubscribe/"+r.PathValue("token"), err)
			return
		}
		logger.Info("organiser unsubscribed from digests", "organiser_id", orgID, "request_id", requestID(r))
		if r.Header.Get("Content-Type") == "application/json" || !acceptsHTML(r) {
			encode(w, http.StatusOK, map[string]string{"status": "unsubscribed"})
			return
		}
		privatePage(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = unsubscribePage.Execute(w, map[string]any{"Done": true})
	})
}

func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
