package metrics_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The deploy files must only use metrics this package registers: a
// misspelt name in an alert never fires and a dashboard panel stays empty,
// both silently. Checked once by hand as well: in alerts.yml, renaming
// convene_queue_latency_seconds to convene_queue_latency_second and the
// label state="retry" to stat="retry", and in one dashboard expr
// convene_emails_sent_total to convene_email_sent_total, made
// TestDeployMetricsExist fail naming each file and each wrong name or label;
// reverting made it pass. TestDeployCheckCatchesMistakes keeps that check
// from rotting.

var (
	alertsFile    = filepath.Join("..", "deploy", "prometheus", "alerts.yml")
	dashboardFile = filepath.Join("..", "deploy", "grafana", "convene-dashboard.json")

	metricName = regexp.MustCompile(`convene_[a-z0-9_]+`)
	// A selector's matchers: name{label="…", label=~"…"}.
	selector = regexp.MustCompile(`(convene_[a-z0-9_]+)\s*\{([^}]*)\}`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
)

// knownSeries returns every series name the registry serves after every
// method ran once, with its label names: a histogram's _bucket (with le),
// _sum and _count, everything else by its own name.
func knownSeries(t *testing.T) map[string][]string {
	t.Helper()
	b := setup(t)
	exerciseAll(b.m)
	known := map[string][]string{}
	for name, f := range gather(t, b.m.Registry()) {
		var labels []string
		for _, s := range f.series {
			for l := range s.labels {
				if !slices.Contains(labels, l) {
					labels = append(labels, l)
				}
			}
		}
		switch f.typ {
		case "HISTOGRAM":
			known[name+"_bucket"] = append(slices.Clone(labels), "le")
			known[name+"_sum"] = labels
			known[name+"_count"] = labels
		case "SUMMARY":
			known[name] = append(slices.Clone(labels), "quantile")
			known[name+"_sum"] = labels
			known[name+"_count"] = labels
		default:
			known[name] = labels
		}
	}
	return known
}

// unknownUses returns, for each expression, the convene_ names that are
// not series of the registry, and the label matchers on convene_ series
// that name a label the series does not have. Suffixes are taken as they
// stand: convene_http_requests_total_count is a mistake, not a histogram.
func unknownUses(exprs []string, known map[string][]string) []string {
	var bad []string
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			if _, ok := known[name]; !ok {
				bad = append(bad, name)
			}
		}
		for _, sel := range selector.FindAllStringSubmatch(e, -1) {
			labels, ok := known[sel[1]]
			if !ok {
				continue // reported above
			}
			for _, m := range matcher.FindAllStringSubmatch(sel[2], -1) {
				if !slices.Contains(labels, m[1]) {
					bad = append(bad, sel[1]+"{"+m[1]+"}")
				}
			}
		}
	}
	sort.Strings(bad)
	return slices.Compact(bad)
}

// yamlExprs returns the value of every expr: key of a rules file, plain,
// quoted or a block scalar (| or >) over the lines indented below it. It
// knows just enough YAML for rule files, so no YAML module is needed.
func yamlExprs(text string) []string {
	var exprs []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimPrefix(strings.TrimSpace(line), "- ")
		if !strings.HasPrefix(trimmed, "expr:") {
			continue
		}
		v := strings.TrimSpace(strings.TrimPrefix(trimmed, "expr:"))
		if v == "" || strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
			indent := len(line) - len(strings.TrimLeft(line, " "))
			var block []string
			for i+1 < len(lines) {
				next := lines[i+1]
				if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
					break
				}
				block = append(block, strings.TrimSpace(next))
				i++
			}
			v = strings.TrimSpace(strings.Join(block, " "))
		} else if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		exprs = append(exprs, v)
	}
	return exprs
}

// jsonQueries walks a dashboard and returns every PromQL string in it: the
// panels' expr and the variables' query and definition.
func jsonQueries(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && (k == "expr" || k == "query" || k == "definition") {
				out = append(out, s)
				continue
			}
			out = append(out, jsonQueries(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, jsonQueries(x)...)
		}
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeployMetricsExist(t *testing.T) {
	t.Parallel()
	known := knownSeries(t)

	var dash map[string]any
	if err := json.Unmarshal([]byte(readFile(t, dashboardFile)), &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	alerts := readFile(t, alertsFile)

	for _, tt := range []struct {
		file  string
		exprs []string
	}{
		{alertsFile, yamlExprs(alerts)},
		{dashboardFile, jsonQueries(dash)},
	} {
		if len(tt.exprs) == 0 {
			t.Errorf("%s: no expressions found", tt.file)
		}
		uses := 0
		for _, e := range tt.exprs {
			uses += len(metricName.FindAllString(e, -1))
		}
		if uses == 0 {
			t.Errorf("%s: no convene_ metric found in %d expressions", tt.file, len(tt.exprs))
		}
		if bad := unknownUses(tt.exprs, known); len(bad) > 0 {
			t.Errorf("%s uses metrics or labels that Convene does not register: %v", tt.file, bad)
		}
	}
}

// TestDeployProseNamesExist checks the names in the alerts' descriptions
// and comments too: an operator follows them. Prose may name a histogram
// without a suffix, or a family by its prefix (convene_queue_*).
func TestDeployProseNamesExist(t *testing.T) {
	t.Parallel()
	known := knownSeries(t)
	for _, name := range metricName.FindAllString(readFile(t, alertsFile), -1) {
		_, ok := known[name]
		_, histogram := known[name+"_bucket"]
		prefix := strings.HasSuffix(name, "_") && slices.ContainsFunc(slices.Collect(maps.Keys(known)), func(k string) bool {
			return strings.HasPrefix(k, name)
		})
		if !ok && !histogram && !prefix {
			t.Errorf("%s names %s, which Convene does not register", alertsFile, name)
		}
	}
}

func TestDeployCheckCatchesMistakes(t *testing.T) {
	t.Parallel()
	known := knownSeries(t)
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"misspelt name", `rate(convene_http_request_total[5m])`, []string{"convene_http_request_total"}},
		{"suffix on a counter", `convene_http_requests_total_count`, []string{"convene_http_requests_total_count"}},
		{"histogram without suffix", `rate(convene_smtp_send_duration_seconds[5m])`, []string{"convene_smtp_send_duration_seconds"}},
		{"misspelt label", `convene_queue_tasks{stat="archived"}`, []string{"convene_queue_tasks{stat}"}},
		{"le on a counter", `convene_emails_sent_total{le="1"}`, []string{"convene_emails_sent_total{le}"}},
		{"block scalar in YAML", strings.Join(yamlExprs("    - alert: X\n      expr: >-\n        sum(convene_queue_size)\n        / convene_queue_sise\n      for: 5m\n"), "\n"), []string{"convene_queue_sise"}},
		{"correct histogram bucket", `histogram_quantile(0.99, sum by (le) (rate(convene_reminder_lateness_seconds_bucket{le!=""}[10m])))`, nil},
		{"correct matchers", `convene_http_requests_total{route=~".+", status=~"5.."}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := unknownUses([]string{tt.expr}, known); !slices.Equal(got, tt.want) {
				t.Errorf("unknownUses(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	text := readFile(t, alertsFile)
	if !regexp.MustCompile(`(?m)^\s*- name: convene\s*$`).MatchString(text) {
		t.Errorf("%s: no rule group named convene", alertsFile)
	}
	// Split the file into one block per rule.
	rules := map[string]string{}
	var name string
	for line := range strings.SplitSeq(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(trimmed, "- alert:"); ok {
			name = strings.TrimSpace(v)
			rules[name] = ""
			continue
		}
		if name != "" {
			rules[name] += trimmed + "\n"
		}
	}
	for _, want := range []string{"ArchivedTasksGrowing", "ReminderLateness", "QueueLatencyHigh", "EmailsBouncing", "HTTP5xx", "RetryingTasksHigh"} {
		if _, ok := rules[want]; !ok {
			t.Errorf("%s: no alert %s", alertsFile, want)
		}
	}
	for name, body := range rules {
		for _, key := range []string{"expr:", "for:", "severity:", "annotations:", "summary:", "description:"} {
			if !strings.Contains(body, "\n"+key) && !strings.HasPrefix(body, key) {
				t.Errorf("%s: alert %s has no %s", alertsFile, name, strings.TrimSuffix(key, ":"))
			}
		}
	}
	if got, want := len(yamlExprs(text)), len(rules); got != want {
		t.Errorf("%s: %d exprs for %d alerts", alertsFile, got, want)
	}
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	var dash struct {
		SchemaVersion int `json:"schemaVersion"`
		UID           string
		Title         string
		Templating    struct {
			List []struct {
				Name  string
				Type  string
				Query any
			}
		}
		Panels []struct {
			ID         int
			Type       string
			Title      string
			Datasource struct{ UID string }
			Targets    []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, dashboardFile)), &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.SchemaVersion < 36 {
		t.Errorf("schemaVersion = %d, want ≥ 36", dash.SchemaVersion)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("uid %q, title %q: want both", dash.UID, dash.Title)
	}
	hasDatasource := false
	for _, v := range dash.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" && v.Name == "datasource" {
			hasDatasource = true
		}
	}
	if !hasDatasource {
		t.Error("no Prometheus datasource variable named datasource")
	}
	var graphs []string
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		graphs = append(graphs, p.Title)
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if !metricName.MatchString(tg.Expr) {
				t.Errorf("panel %q: expr %q uses no convene_ metric", p.Title, tg.Expr)
			}
		}
	}
	if len(graphs) == 0 {
		t.Fatal("dashboard has no panels")
	}
	// What the issue asks the dashboard to show, one panel each.
	for _, want := range []string{
		"Queue tasks by state", "Queue latency", "Jobs processed by type and outcome", "Jobs failed by type",
		"Emails sent by kind", "Emails failed by kind and reason", "SMTP send duration p50 / p99",
		"Reminder lateness p50 / p99", "HTTP requests by route and status",
		"HTTP request duration p99 by route", "Registrations by outcome",
	} {
		if !slices.Contains(graphs, want) {
			t.Errorf("no panel %q; panels: %v", want, graphs)
		}
	}
}
