package metrics_test

import (
	"errors"
	"testing"
)

func TestQueueCollector(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fams := gather(t, b.m.Registry())

	tests := []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"convene_queue_tasks", map[string]string{"queue": "critical", "state": "pending"}, 3},
		{"convene_queue_tasks", map[string]string{"queue": "critical", "state": "active"}, 2},
		{"convene_queue_tasks", map[string]string{"queue": "critical", "state": "scheduled"}, 5},
		{"convene_queue_tasks", map[string]string{"queue": "critical", "state": "retry"}, 7},
		{"convene_queue_tasks", map[string]string{"queue": "critical", "state": "archived"}, 11},
		{"convene_queue_tasks", map[string]string{"queue": "critical", "state": "completed"}, 13},
		{"convene_queue_tasks", map[string]string{"queue": "critical", "state": "aggregating"}, 1},
		{"convene_queue_tasks", map[string]string{"queue": "default", "state": "pending"}, 1},
		{"convene_queue_tasks", map[string]string{"queue": "default", "state": "archived"}, 0},
		{"convene_queue_size", map[string]string{"queue": "critical"}, 29},
		{"convene_queue_latency_seconds", map[string]string{"queue": "critical"}, 1.5},
		{"convene_queue_latency_seconds", map[string]string{"queue": "default"}, 0},
		{"convene_queue_paused", map[string]string{"queue": "critical"}, 1},
		{"convene_queue_paused", map[string]string{"queue": "default"}, 0},
		{"convene_queue_processed_total", map[string]string{"queue": "critical"}, 100},
		{"convene_queue_failed_total", map[string]string{"queue": "critical"}, 9},
		{"convene_queue_scrape_errors_total", nil, 0},
	}
	for _, tt := range tests {
		got, ok := value(t, fams, tt.metric, tt.labels)
		if !ok {
			t.Errorf("no %s series with %v", tt.metric, tt.labels)
			continue
		}
		if got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
		}
	}
	if n := len(fams["convene_queue_tasks"].series); n != 14 {
		t.Errorf("convene_queue_tasks has %d series, want 7 states × 2 queues", n)
	}
}

func TestQueueCollectorReadsAtScrapeTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gather(t, b.m.Registry())
	b.inspector.mu.Lock()
	b.inspector.infos["critical"].Archived = 12
	b.inspector.mu.Unlock()
	got, _ := value(t, gather(t, b.m.Registry()), "convene_queue_tasks", map[string]string{"queue": "critical", "state": "archived"})
	if got != 12 {
		t.Errorf("archived = %v after the queue changed, want 12", got)
	}
}

func TestQueueCollectorCountsInspectorErrors(t *testing.T) {
	t.Parallel()
	t.Run("listing the queues fails", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.inspector.queuesErr = errors.New("redis: connection refused")
		gather(t, b.m.Registry())
		fams := gather(t, b.m.Registry())
		if got, _ := value(t, fams, "convene_queue_scrape_errors_total", nil); got != 2 {
			t.Errorf("scrape errors = %v after two failed scrapes, want 2", got)
		}
		if _, ok := fams["convene_queue_tasks"]; ok {
			t.Error("convene_queue_tasks reported although the queues could not be read")
		}
	})
	t.Run("one queue fails", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.inspector.infoErr["critical"] = errors.New("redis: i/o timeout")
		fams := gather(t, b.m.Registry())
		if got, _ := value(t, fams, "convene_queue_scrape_errors_total", nil); got != 1 {
			t.Errorf("scrape errors = %v, want 1", got)
		}
		if _, ok := value(t, fams, "convene_queue_size", map[string]string{"queue": "critical"}); ok {
			t.Error("failing queue reported")
		}
		if got, ok := value(t, fams, "convene_queue_size", map[string]string{"queue": "default"}); !ok || got != 1 {
			t.Errorf("other queue: size = %v (reported %v), want 1", got, ok)
		}
	})
}
