package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"

	"convene"
)

func handleCreateMeeting(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
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
		intents, err := store.CreateMeeting(ctx, m)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		dispatch(ctx, r, logger, store, queue, intents)
		logger.Info("meeting created", "meeting_id", m.ID, "request_id", requestID(r))
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

// handleUpdateMeeting changes a meeting. A change of time or place raises
// its version: reminders move and confirmed participants get an update.
func handleUpdateMeeting(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in convene.MeetingInput
		if err := decode(w, r, &in); err != nil {
			encodeError(w, r, logger, err)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		id := r.PathValue("id")
		for attempt := 0; ; attempt++ {
			old, err := store.Meeting(ctx, id)
			if err != nil {
				encodeError(w, r, logger, err)
				return
			}
			u, moved, err := old.Update(in, cfg.Now())
			if err != nil {
				encodeError(w, r, logger, err)
				return
			}
			intents, err := store.UpdateMeeting(ctx, old, u, moved)
			if errors.Is(err, convene.ErrConcurrentUpdate) && attempt < 5 {
				continue // another change landed between read and write: apply ours to it
			}
			if err != nil {
				encodeError(w, r, logger, err)
				return
			}
			dispatch(ctx, r, logger, store, queue, intents)
			if moved {
				queue.ForgetReminders(id, reminderIDs(ctx, store, old), old.Version)
			}
			logger.Info("meeting updated", "meeting_id", id, "moved", moved, "version", u.Version, "request_id", requestID(r))
			fresh, err := store.Meeting(ctx, id)
			if err != nil {
				encodeError(w, r, logger, err)
				return
			}
			encode(w, http.StatusOK, fresh)
			return
		}
	})
}

// handleCancelMeeting cancels a meeting: no more reminders, and one
// "cancelled" email to every confirmed and waitlisted participant.
// Cancelling twice changes nothing.
func handleCancelMeeting(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		id := r.PathValue("id")
		intents, err := store.CancelMeeting(ctx, id)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		m, err := store.Meeting(ctx, id)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		if len(intents) > 0 {
			dispatch(ctx, r, logger, store, queue, intents)
			queue.ForgetReminders(id, reminderIDs(ctx, store, m), m.Version)
			logger.Info("meeting cancelled", "meeting_id", id, "request_id", requestID(r))
		}
		encode(w, http.StatusOK, m)
	})
}

// reminderIDs lists the ids of every reminder of m (offsets and extras).
func reminderIDs(ctx context.Context, store Store, m convene.Meeting) []string {
	var ids []string
	for _, r := range m.OffsetReminders() {
		ids = append(ids, r.ID)
	}
	extras, _ := store.Reminders(ctx, m.ID)
	for _, r := range extras {
		ids = append(ids, r.ID)
	}
	return ids
}

func handleAddReminder(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in convene.ReminderInput
		if err := decode(w, r, &in); err != nil {
			encodeError(w, r, logger, err)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		m, err := store.Meeting(ctx, r.PathValue("id"))
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		if m.Status == convene.MeetingCancelled {
			encodeError(w, r, logger, convene.Errorf(convene.ECONFLICT, "meeting %s is cancelled", m.ID))
			return
		}
		rem, err := convene.NewReminder(m, in, cfg.Now())
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		intents, err := store.AddReminder(ctx, m.ID, rem)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		dispatch(ctx, r, logger, store, queue, intents)
		w.Header().Set("Location", "/v1/meetings/"+m.ID+"/reminders/"+rem.ID)
		encode(w, http.StatusCreated, rem)
	})
}

func handleListReminders(logger *slog.Logger, store Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := store.Meeting(r.Context(), r.PathValue("id"))
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		rs, err := store.Reminders(r.Context(), m.ID)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		for i := range rs {
			rs[i].DueAt = rs[i].Due(m)
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].DueAt.Before(rs[j].DueAt) })
		encode(w, http.StatusOK, map[string]any{"reminders": rs})
	})
}

func handleDeleteReminder(logger *slog.Logger, store Store, queue Queue) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := store.Meeting(r.Context(), r.PathValue("id"))
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		id := r.PathValue("reminder_id")
		if err := store.DeleteReminder(r.Context(), m.ID, id); err != nil {
			encodeError(w, r, logger, err)
			return
		}
		queue.ForgetReminders(m.ID, []string{id}, m.Version)
		w.WriteHeader(http.StatusNoContent)
	})
}
