package metrics

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueInspector is what the queue collector reads at scrape time:
// *asynq.Inspector.
type QueueInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
}

var (
	queueTasksDesc = prometheus.NewDesc("convene_queue_tasks",
		"Tasks in a queue, by state (pending, active, scheduled, retry, archived, completed, aggregating).",
		[]string{"queue", "state"}, nil)
	queueSizeDesc = prometheus.NewDesc("convene_queue_size",
		"Tasks in a queue: pending, active, scheduled, retry, aggregating and archived, as asynq counts them.",
		[]string{"queue"}, nil)
	queueLatencyDesc = prometheus.NewDesc("convene_queue_latency_seconds",
		"Age of the oldest pending task in a queue.",
		[]string{"queue"}, nil)
	queuePausedDesc = prometheus.NewDesc("convene_queue_paused",
		"1 when a queue is paused, else 0.",
		[]string{"queue"}, nil)
	queueProcessedDesc = prometheus.NewDesc("convene_queue_processed_total",
		"Tasks processed from a queue by every worker, succeeded or failed, as stored by asynq in Redis.",
		[]string{"queue"}, nil)
	queueFailedDesc = prometheus.NewDesc("convene_queue_failed_total",
		"Tasks from a queue whose processing failed, by every worker, as stored by asynq in Redis.",
		[]string{"queue"}, nil)
)

// queueCollector reads the queues from the inspector on each scrape, so the
// numbers are as fresh as the scrape and nothing polls Redis in between.
// The queue metrics describe Redis, not this process: every process that
// has the collector reports the same values.
type queueCollector struct {
	inspector QueueInspector
	errors    prometheus.Counter
}

func newQueueCollector(inspector QueueInspector) *queueCollector {
	return &queueCollector{
		inspector: inspector,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "convene_queue_scrape_errors_total",
			Help: "Errors reading the queues from Redis at scrape time; the queues concerned are left out of that scrape.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueTasksDesc
	ch <- queueSizeDesc
	ch <- queueLatencyDesc
	ch <- queuePausedDesc
	ch <- queueProcessedDesc
	ch <- queueFailedDesc
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector. An inspector error is counted and
// the queue (or, when the list of queues fails, every queue) left out, so
// the rest of the scrape still answers.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	queues, err := c.inspector.Queues()
	if err != nil {
		c.errors.Inc()
		return
	}
	for _, q := range queues {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			c.errors.Inc()
			continue
		}
		for _, s := range []struct {
			state string
			n     int
		}{
			{"pending", info.Pending},
			{"active", info.Active},
			{"scheduled", info.Scheduled},
			{"retry", info.Retry},
			{"archived", info.Archived},
			{"completed", info.Completed},
			{"aggregating", info.Aggregating},
		} {
			ch <- prometheus.MustNewConstMetric(queueTasksDesc, prometheus.GaugeValue, float64(s.n), q, s.state)
		}
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(info.Size), q)
		ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, info.Latency.Seconds(), q)
		ch <- prometheus.MustNewConstMetric(queuePausedDesc, prometheus.GaugeValue, paused, q)
		ch <- prometheus.MustNewConstMetric(queueProcessedDesc, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(queueFailedDesc, prometheus.CounterValue, float64(info.FailedTotal), q)
	}
}
