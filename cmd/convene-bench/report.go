package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// results are the figures of one run. The JSON field names and order are
// the benchmark's interface (CI and BENCHMARKS.md read them): change them
// only with both.
type results struct {
	IntakeRPS                 float64 `json:"intake_rps"`
	IntakeP99                 float64 `json:"intake_p99_ms"`
	BaselineEnqueueRPS        float64 `json:"baseline_enqueue_rps"`
	BaselineEnqueueP99        float64 `json:"baseline_enqueue_p99_ms"`
	DeliveryPerS              float64 `json:"delivery_per_s"`
	BaselineDeliveryPerS      float64 `json:"baseline_delivery_per_s"`
	E2EP50                    float64 `json:"e2e_p50_ms"`
	E2EP99                    float64 `json:"e2e_p99_ms"`
	FanoutS                   float64 `json:"fanout_10k_s"`
	ReminderLateP50           float64 `json:"reminder_late_p50_ms"`
	ReminderLateP99           float64 `json:"reminder_late_p99_ms"`
	ReminderEarlyMax          float64 `json:"reminder_early_max_ms"`
	RedisBytesPerRegistration float64 `json:"redis_bytes_per_registration"`
	PageRPS                   float64 `json:"page_rps"`
	PageP99                   float64 `json:"page_p99_ms"`
	FormIntakeRPS             float64 `json:"form_intake_rps"`
	FormIntakeRatio           float64 `json:"form_intake_ratio"` // form_intake_rps / intake_rps; 0 without both
	Fanout100kS               float64 `json:"fanout_100k_s"`
	Fanout100kWorkerRSSMB     float64 `json:"fanout_100k_worker_rss_mb"` // the fresh worker's VmHWM, MiB

	limitsFlag string                  // -limits: "on" or "off"
	limits     map[string]limitSetting // by phase: the intake limits its registrations met
	refused    int                     // answers to registrations other than 201 (303 for the form)
	refusedBy  []string                // per phase, what they were
	ran        map[string]bool         // the phases that ran to the end
	skipped    map[string]string       // the phases this run's size leaves out, with why
	hostSteal  string                  // CPU time stolen by the hypervisor during the run
	steal      []string                // the same per phase
	notes      []string                // one line per phase, printed above the table
	failed     []string                // the phases that could not be measured, with why
}

// ranWith records the intake limits a phase's registrations met, and
// counts the answers of its loads that were not the success they expected
// (201, or 303 for the form): with the limits at values the run never
// reaches, a 429 is a fault, and so is any other refusal.
func (r *results) ranWith(phase string, limits limitSetting, loads ...loadResult) {
	if r.limits == nil {
		r.limits = map[string]limitSetting{}
	}
	r.limits[phase] = limits
	for _, l := range loads {
		if n := l.failures(); n > 0 {
			r.refused += n
			r.refusedBy = append(r.refusedBy, phase+": "+l.problems())
		}
	}
}

// derive computes the figures made of other figures, once every phase ran.
func (r *results) derive() {
	r.FormIntakeRatio = 0
	if r.IntakeRPS > 0 && r.FormIntakeRPS > 0 {
		r.FormIntakeRatio = r.FormIntakeRPS / r.IntakeRPS
	}
}

// note adds a line to the details printed above the table.
func (r *results) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// phaseFailed reports whether the named phase failed.
func (r *results) phaseFailed(name string) bool {
	for _, f := range r.failed {
		if strings.HasPrefix(f, name+":") {
			return true
		}
	}
	return false
}

// row is one line of the table.
type row struct {
	phase  string
	field  string
	value  float64
	target string
	met    func() bool // nil: no target
}

func (r *results) rows(sz sizes) []row {
	// vsIntake is the target text "≥ f × intake_rps = …"; the targets
	// measured against intake_rps are not met when it was not measured.
	vsIntake := func(f float64) string {
		s := "≥ intake_rps"
		if f != 1 {
			s = fmt.Sprintf("≥ %g × intake_rps", f)
		}
		if r.IntakeRPS == 0 {
			return s + " (intake not measured)"
		}
		return fmt.Sprintf("%s = %.0f", s, f*r.IntakeRPS)
	}
	return []row{
		{"intake", "intake_rps", r.IntakeRPS, fmt.Sprintf("≥ 0.8 × baseline = %.0f", 0.8*r.BaselineEnqueueRPS),
			func() bool { return r.IntakeRPS >= 0.8*r.BaselineEnqueueRPS }},
		{"intake", "intake_p99_ms", r.IntakeP99, "≤ 20", func() bool { return r.IntakeP99 <= 20 }},
		{"intake", "baseline_enqueue_rps", r.BaselineEnqueueRPS, "", nil},
		{"intake", "baseline_enqueue_p99_ms", r.BaselineEnqueueP99, "", nil},
		{"delivery", "delivery_per_s", r.DeliveryPerS, fmt.Sprintf("≥ 0.9 × baseline = %.0f", 0.9*r.BaselineDeliveryPerS),
			func() bool { return r.DeliveryPerS >= 0.9*r.BaselineDeliveryPerS }},
		{"delivery", "baseline_delivery_per_s", r.BaselineDeliveryPerS, "", nil},
		{"e2e", "e2e_p50_ms", r.E2EP50, "", nil},
		{"e2e", "e2e_p99_ms", r.E2EP99, "≤ 50", func() bool { return r.E2EP99 <= 50 }},
		{"fanout", "fanout_10k_s", r.FanoutS, fmt.Sprintf("≤ 4 (for 10,000; this run: %d)", sz.fanout),
			func() bool { return r.FanoutS <= 4 }},
		{"fanout100k", "fanout_100k_s", r.Fanout100kS, "≤ 30", func() bool { return r.Fanout100kS <= 30 }},
		{"fanout100k", "fanout_100k_worker_rss_mb", r.Fanout100kWorkerRSSMB, "≤ 200",
			func() bool { return r.Fanout100kWorkerRSSMB <= 200 }},
		{"reminders", "reminder_late_p50_ms", r.ReminderLateP50, "", nil},
		{"reminders", "reminder_late_p99_ms", r.ReminderLateP99, "≤ 1000", func() bool { return r.ReminderLateP99 <= 1000 }},
		{"reminders", "reminder_early_max_ms", r.ReminderEarlyMax, "= 0", func() bool { return r.ReminderEarlyMax == 0 }},
		{"memory", "redis_bytes_per_registration", r.RedisBytesPerRegistration, "≤ 1024",
			func() bool { return r.RedisBytesPerRegistration <= 1024 }},
		{"page", "page_rps", r.PageRPS, vsIntake(1),
			func() bool { return r.IntakeRPS > 0 && r.PageRPS >= r.IntakeRPS }},
		{"page", "page_p99_ms", r.PageP99, "≤ 20", func() bool { return r.PageP99 <= 20 }},
		{"form", "form_intake_rps", r.FormIntakeRPS, vsIntake(0.9),
			func() bool { return r.IntakeRPS > 0 && r.FormIntakeRPS >= 0.9*r.IntakeRPS }},
		{"form", "form_intake_ratio", r.FormIntakeRatio, "", nil},
		{"", "registrations_refused", float64(r.refused), "= 0 (answers not 201/303)",
			func() bool { return r.refused == 0 }},
	}
}

// limitsAfter names, for each phase that posts registrations, the row
// after which the table shows the intake limits it ran with.
var limitsAfter = map[string]string{
	"intake_p99_ms":             "intake",
	"e2e_p99_ms":                "e2e",
	"fanout_10k_s":              "fanout",
	"fanout_100k_worker_rss_mb": "fanout100k",
	"form_intake_rps":           "form",
}

// print writes the details and the table of figures.
func (r *results) print(w io.Writer, sz sizes, took time.Duration) {
	fmt.Fprintf(w, "convene-bench, %s run (%s), -limits %s\n\n", sz.name, took.Round(time.Second), r.limitsFlag)
	for _, n := range r.notes {
		fmt.Fprintln(w, "  "+n)
	}
	if r.hostSteal != "" {
		// Another guest of the VM's host took this share of the CPUs:
		// the figures of the phases with much of it are low.
		fmt.Fprintf(w, "  host CPU time stolen by the hypervisor: %s over the run (%s)\n", r.hostSteal, strings.Join(r.steal, ", "))
	}
	for _, f := range r.refusedBy {
		fmt.Fprintln(w, "  REFUSED "+f)
	}
	for _, f := range r.failed {
		fmt.Fprintln(w, "  FAILED "+f)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tTARGET\tMET")
	met, targets := 0, 0
	for _, row := range r.rows(sz) {
		value, target, ok := format(row.value), row.target, "—"
		if target == "" {
			target = "—"
		}
		switch {
		case r.phaseFailed(row.phase):
			value, ok = "failed", "no"
			if row.met != nil {
				targets++
			}
		case row.phase != "" && !r.ran[row.phase]:
			// Left out by -only or by the run's size: its figure is 0 in
			// the JSON, and no target is judged.
			value, ok = "0", "not run"
			if why := r.skipped[row.phase]; why != "" {
				ok = "not run: " + why
			}
		case row.met != nil:
			targets++
			ok = "no"
			if row.met() {
				ok = "yes"
				met++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.field, value, target, ok)
		if l, ok := r.limits[limitsAfter[row.field]]; ok {
			// A setting, not a figure: the limits the phase's
			// registrations met.
			on := "off"
			if l.on {
				on = "on"
			}
			fmt.Fprintf(tw, "  with limits\t%s\t%s\t—\n", on, l)
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d of %d targets met", met, targets)
	if sz.name != "full" {
		fmt.Fprintf(w, " (a %s run: scaled down, not comparable with the targets)", sz.name)
	}
	fmt.Fprintln(w)
}

// printJSON writes the last line: one JSON object of the 19 figures.
func (r *results) printJSON(w io.Writer) error {
	out := *r
	for _, f := range []*float64{
		&out.IntakeRPS, &out.IntakeP99, &out.BaselineEnqueueRPS, &out.BaselineEnqueueP99,
		&out.DeliveryPerS, &out.BaselineDeliveryPerS, &out.E2EP50, &out.E2EP99, &out.FanoutS,
		&out.ReminderLateP50, &out.ReminderLateP99, &out.ReminderEarlyMax, &out.RedisBytesPerRegistration,
		&out.PageRPS, &out.PageP99, &out.FormIntakeRPS, &out.FormIntakeRatio,
		&out.Fanout100kS, &out.Fanout100kWorkerRSSMB,
	} {
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			return fmt.Errorf("a figure is not a number: %+v", out)
		}
		*f = math.Round(*f*1000) / 1000
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// format prints a figure with three significant decimals at most.
func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
