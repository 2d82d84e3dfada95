package handlers

import (
	"log/slog"
	"net/http"

	"convene"
)

func handleCreateMeeting(logger *slog.Logger, store Store, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in convene.MeetingInput
		if err := decode(w, r, &in); err != nil {
			encodeError(w, r, logger, err)
			return
		}
		m, err := convene.NewMeeting(in, cfg.ReminderOffsets, cfg.Now())
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		if err := store.CreateMeeting(ctx, m); err != nil {
			encodeError(w, r, logger, err)
			return
		}
		w.Header().Set("Location", "/v1/meetings/"+m.ID)
		encode(w, http.StatusCreated, m)
	})
}

func handleListMeetings(logger *slog.Logger, store Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms, err := store.Meetings(r.Context())
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		if ms == nil {
			ms = []convene.Meeting{}
		}
		encode(w, http.StatusOK, map[string]any{"meetings": ms})
	})
}

func handleGetMeeting(logger *slog.Logger, store Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := store.Meeting(r.Context(), r.PathValue("id"))
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		encode(w, http.StatusOK, m)
	})
}
