package grafana

// The classic (v1) dashboard model is deprecated in the SDK in favour of
// dashboardv2, which needs the v2 dashboard API of Grafana 12; v1 JSON imports
// into every Grafana.
//lint:file-ignore SA1019 v1 dashboards on purpose, see above

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/tether-ha/tether/agent/metrics"
	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/testbed"
)

const committed = "tether.json"

func readCommitted(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestGenerated keeps tether.json and the generator in step: the JSON is
// never edited by hand.
func TestGenerated(t *testing.T) {
	got, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	again, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Fatal("two runs of the generator differ: the output is not deterministic")
	}
	want := readCommitted(t)
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s is stale (first difference at line %d: generator %q, file %q); run `go run ./contrib/grafana/gen`", committed, i+1, g, w)
			}
		}
	}
}

// strictCheck runs the SDK's strict decoder, which rejects unknown fields,
// missing required ones and wrong types, in panel options and queries too
// once the plugins are registered. It only validates: in v0.0.22 every
// strict decoder returns its error list as a non-nil error even when the
// list is empty, and the unions and plugin variants (PanelOrRowPanel,
// value mappings, panel options, queries) take that for a failure and
// drop what they decoded, so the strict result has lost its panels.
func strictCheck(raw []byte) error {
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	err := d.UnmarshalJSONStrict(raw)
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}

// generic decodes JSON into maps and slices, to compare documents whatever
// the order of their keys.
func generic(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStrictRoundTrip: the committed JSON passes the strict decoder, and
// the SDK's typed model holds all of it: decoded (with the regular
// decoder, see strictCheck) into typed panels, options and queries and
// encoded again, it is the same document, so no field is one the SDK does
// not know.
func TestStrictRoundTrip(t *testing.T) {
	raw := readCommitted(t)
	if err := strictCheck(raw); err != nil {
		t.Fatalf("strict unmarshal of %s: %v", committed, err)
	}
	var d dashboard.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	for i, p := range d.Panels {
		if p.RowPanel != nil {
			continue
		}
		if p.Panel == nil {
			t.Fatalf("panel %d decoded to nothing", i)
		}
		// A map would mean the plugin's options were not recognised.
		if _, untyped := p.Panel.Options.(map[string]any); untyped || p.Panel.Options == nil {
			t.Errorf("panel %d (%s): options decoded as %T, not the plugin's type", i, p.Panel.Type, p.Panel.Options)
		}
		for _, q := range p.Panel.Targets {
			if _, ok := q.(*prometheus.Dataquery); !ok {
				t.Errorf("panel %d: query decoded as %T, not a Prometheus query", i, q)
			}
		}
	}
	again, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	orig, back := generic(t, raw), generic(t, again)
	if diff := cmp.Diff(orig["panels"], back["panels"]); diff != "" {
		t.Errorf("panels changed in a round trip (-committed +re-marshalled):\n%s", diff)
	}
	if diff := cmp.Diff(orig, back); diff != "" {
		t.Errorf("dashboard changed in a round trip (-committed +re-marshalled):\n%s", diff)
	}
}

// TestStrictRejects shows that the round trip above can fail: an unknown
// field at the top, in a panel or in a panel's plugin options is an error.
func TestStrictRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(d map[string]any)
	}{
		{"dashboard field", func(d map[string]any) { d["bogus"] = 1 }},
		{"panel field", func(d map[string]any) { firstPanel(d, "table")["bogus"] = 1 }},
		{"table option", func(d map[string]any) {
			firstPanel(d, "table")["options"].(map[string]any)["bogus"] = 1
		}},
		{"query field", func(d map[string]any) {
			firstPanel(d, "timeseries")["targets"].([]any)[0].(map[string]any)["bogus"] = 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := generic(t, readCommitted(t))
			tc.edit(d)
			raw, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := strictCheck(raw); err == nil {
				t.Fatal("strict unmarshal accepted an unknown field")
			}
		})
	}
}

func firstPanel(d map[string]any, typ string) map[string]any {
	for _, p := range d["panels"].([]any) {
		if p := p.(map[string]any); p["type"] == typ {
			return p
		}
	}
	panic("no panel of type " + typ)
}

// expression is a PromQL expression of the dashboard and where it is.
type expression struct {
	where, expr string
}

// labelValues is the only variable query form the dashboard uses.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// expressions returns every PromQL expression of the committed dashboard:
// each "expr" anywhere (queries, annotations) and the series selector of
// each label_values variable query.
func expressions(t *testing.T) []expression {
	t.Helper()
	d := generic(t, readCommitted(t))
	var out []expression
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			// Name the panel (or annotation) in messages, not just its index.
			if title, ok := v["title"].(string); ok {
				path += fmt.Sprintf("(%q)", title)
			} else if name, ok := v["name"].(string); ok {
				path += fmt.Sprintf("(%q)", name)
			}
			for k, e := range v {
				if s, ok := e.(string); ok && k == "expr" {
					out = append(out, expression{path, s})
					continue
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", d)
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		v := v.(map[string]any)
		if v["type"] != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v["query"].(string))
		if m == nil {
			t.Fatalf("variable %v: query %q is not label_values(selector, label)", v["name"], v["query"])
		}
		out = append(out, expression{fmt.Sprintf("variable %v", v["name"]), m[1]})
	}
	slices.SortFunc(out, func(a, b expression) int { return strings.Compare(a.where, b.where) })
	if len(out) < 10 {
		t.Fatalf("found only %d expressions in %s", len(out), committed)
	}
	return out
}

// Grafana's built-in variables the dashboard may use, and what they are
// replaced with for promtool.
var builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
	"__all":           "",
}

// variableRef finds $name, ${name}, ${name:format} and [[name]].
var variableRef = regexp.MustCompile(`\$([a-zA-Z_][a-zA-Z0-9_]*)|\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]`)

// substitute replaces Grafana variables the way a query would see them:
// built-ins by a duration, the dashboard's own by a regex.
func substitute(expr string) string {
	return variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if v, ok := builtins[name]; ok {
			return v
		}
		return ".*"
	})
}

// checkPromQL has promtool parse every expression, written as recording
// rules; the error names the rule (and so the panel) that does not parse.
func checkPromQL(t *testing.T, promtool string, exprs []expression) error {
	t.Helper()
	var rules []map[string]string
	for i, e := range exprs {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard_expr_%d", i), "expr": substitute(e.expr)})
	}
	// JSON is YAML, so no YAML library is needed.
	file, err := json.MarshalIndent(map[string]any{"groups": []any{map[string]any{"name": "tether-dashboard", "rules": rules}}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", "--lint=none", path).CombinedOutput()
	if err != nil {
		// Say which panel each failing rule came from.
		var where []string
		for i, e := range exprs {
			if record := fmt.Sprintf("%q", fmt.Sprintf("dashboard_expr_%d", i)); bytes.Contains(out, []byte(record)) {
				where = append(where, fmt.Sprintf("%s is %s: %s", record, e.where, e.expr))
			}
		}
		return fmt.Errorf("promtool check rules: %v\n%s\n%s", err, out, strings.Join(where, "\n"))
	}
	return nil
}

func TestPromQLParses(t *testing.T) {
	promtool := testbed.RequireTool(t, "promtool", "prometheus")
	if err := checkPromQL(t, promtool, expressions(t)); err != nil {
		t.Fatal(err)
	}
}

// TestPromQLCheckRejects shows that checkPromQL is not vacuous.
func TestPromQLCheckRejects(t *testing.T) {
	promtool := testbed.RequireTool(t, "promtool", "prometheus")
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`rate(tether_link_up[`, false},
		{`sum by (node (tether_link_up)`, false},
		{`tether_link_up{node=~"$node"`, false},
		{`rate(tether_link_up[$__interval]) / `, false},
		{`rate(tether_link_transitions_total{node=~"$node", peer=~"${peer}"}[$__rate_interval])`, true},
		{`histogram_quantile(0.99, sum by (le) (rate(tether_link_rtt_seconds_bucket{network=~"[[network]]"}[$__range])))`, true},
	} {
		err := checkPromQL(t, promtool, []expression{{"test", tc.expr}})
		if (err == nil) != tc.ok {
			t.Errorf("%q: ok=%v, want %v (%v)", tc.expr, err == nil, tc.ok, err)
		}
	}
}

// metricDoc is a metric's row in docs/METRICS.md.
type metricDoc struct {
	typ    string
	labels []string
	// states lists the values of a state set's label, in the meaning
	// column (UPPER, CASE, LIST).
	states []string
}

var upperList = regexp.MustCompile(`[A-Z][A-Z_]*(?:, [A-Z][A-Z_]*)+`)

// readMetricsDoc parses the metric tables of docs/METRICS.md: the types
// and labels there are what the exporter promises.
func readMetricsDoc(t *testing.T) map[string]metricDoc {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "METRICS.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs := map[string]metricDoc{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `tether_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			t.Fatalf("METRICS.md: odd table row %q", line)
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		var labels []string
		for _, l := range strings.Split(cells[3], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		var states []string
		if m := upperList.FindString(cells[4]); m != "" {
			states = strings.Split(m, ", ")
		}
		docs[name] = metricDoc{typ: strings.TrimSpace(cells[2]), labels: labels, states: states}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("METRICS.md: no metric table rows found")
	}
	return docs
}

var (
	metricName = regexp.MustCompile(`tether_[a-z0-9_]+`)
	selector   = regexp.MustCompile(`(tether_[a-z0-9_]+)\s*\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	grouping   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// family maps a queried name to its metric family: histograms' _bucket,
// _sum and _count series to the histogram, and nothing else (a counter's
// name may end in _count too).
func family(name string, docs map[string]metricDoc) (base, suffix string) {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		b, ok := strings.CutSuffix(name, s)
		if ok && slices.Contains(metrics.Names(), b) && docs[b].typ == "histogram" {
			return b, s
		}
	}
	return name, ""
}

// TestMetricNames: every metric a query reads is exported, and is
// filtered and grouped only by labels it has (a matcher on a missing label
// matches nothing once a value is picked, silently emptying the panel).
func TestMetricNames(t *testing.T) {
	docs := readMetricsDoc(t)
	names := metrics.Names()
	for _, e := range expressions(t) {
		// Label values may contain anything; only names and label names
		// are checked.
		bare := quoted.ReplaceAllString(e.expr, `""`)
		have := map[string]bool{}
		for _, name := range metricName.FindAllString(bare, -1) {
			base, suffix := family(name, docs)
			if !slices.Contains(names, base) {
				t.Errorf("%s: %s is not in metrics.Names()", e.where, name)
				continue
			}
			labels := append([]string{"node"}, docs[base].labels...)
			if suffix == "_bucket" {
				labels = append(labels, "le")
			}
			for _, l := range labels {
				have[l] = true
			}
		}
		for _, m := range selector.FindAllStringSubmatch(bare, -1) {
			base, suffix := family(m[1], docs)
			doc, ok := docs[base]
			if !ok {
				t.Errorf("%s: %s is not in docs/METRICS.md", e.where, m[1])
				continue
			}
			for _, l := range matcher.FindAllStringSubmatch(m[2], -1) {
				if l[1] != "node" && !slices.Contains(doc.labels, l[1]) && (suffix != "_bucket" || l[1] != "le") {
					t.Errorf("%s: %s has no label %q (labels: node, %s)", e.where, m[1], l[1], strings.Join(doc.labels, ", "))
				}
			}
		}
		for _, g := range grouping.FindAllStringSubmatch(bare, -1) {
			for _, l := range strings.Split(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !have[l] {
					t.Errorf("%s: groups by %q, which none of its metrics has", e.where, l)
				}
			}
		}
	}
}

// TestStateSets: the state codes and their mappings cover exactly the
// states METRICS.md lists; a state added to the agent and not here would
// vanish from the timelines.
func TestStateSets(t *testing.T) {
	docs := readMetricsDoc(t)
	for metric, states := range map[string][]State{
		metrics.LinkState:        LinkStates,
		metrics.NodeState:        NodeStates,
		metrics.LocalState:       LocalStates,
		metrics.MirrorTopicState: MirrorStates,
	} {
		var ours []string
		for _, s := range states {
			ours = append(ours, s.Name)
		}
		doc := slices.Clone(docs[metric].states)
		slices.Sort(doc)
		slices.Sort(ours)
		if !slices.Equal(ours, doc) || len(doc) == 0 {
			t.Errorf("%s: dashboard states %v, METRICS.md %v", metric, ours, doc)
		}
	}
}

// TestFailoverStateSets: the failover timelines cover every role of a
// copy (the replicator's and none) and every decision reason of the
// failover rules, each once.
func TestFailoverStateSets(t *testing.T) {
	names := func(states []State) []string {
		var out []string
		for _, s := range states {
			out = append(out, s.Name)
		}
		slices.Sort(out)
		return out
	}
	roles := []string{string(resource.Primary), string(resource.Mirror), string(resource.Stopped), string(resource.Diverged), "none"}
	slices.Sort(roles)
	if got := names(FailoverRoles); !slices.Equal(got, roles) {
		t.Errorf("%s: dashboard roles %v, want %v", metrics.FailoverRole, got, roles)
	}
	reasons := slices.Sorted(slices.Values(failover.Reasons))
	if got := names(FailoverDecisions); !slices.Equal(got, reasons) {
		t.Errorf("%s: dashboard reasons %v, the failover rules' %v", metrics.FailoverDecision, got, reasons)
	}
}

func TestPanelsDescribed(t *testing.T) {
	d := generic(t, readCommitted(t))
	ids := map[float64]bool{}
	panels := 0
	for i, p := range d["panels"].([]any) {
		p := p.(map[string]any)
		title, _ := p["title"].(string)
		if strings.TrimSpace(title) == "" {
			t.Errorf("panel %d has no title", i)
		}
		id, _ := p["id"].(float64)
		if id == 0 || ids[id] {
			t.Errorf("panel %d (%q): id %v missing or not unique", i, title, p["id"])
		}
		ids[id] = true
		if p["type"] == "row" {
			continue
		}
		panels++
		if desc, _ := p["description"].(string); strings.TrimSpace(desc) == "" {
			t.Errorf("panel %q has no description", title)
		}
		if targets, _ := p["targets"].([]any); len(targets) == 0 {
			t.Errorf("panel %q has no query", title)
		}
	}
	if panels == 0 {
		t.Fatal("no panels")
	}
}

// TestVariablesDefined: every variable referenced anywhere in the
// dashboard is defined (or a Grafana built-in), and every one defined is
// used.
func TestVariablesDefined(t *testing.T) {
	d := generic(t, readCommitted(t))
	defined := map[string]bool{}
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		defined[v.(map[string]any)["name"].(string)] = true
	}
	for _, want := range []string{"datasource", "node", "peer", "network"} {
		if !defined[want] {
			t.Errorf("variable %q is not defined", want)
		}
	}
	used := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			for _, m := range variableRef.FindAllStringSubmatch(v, -1) {
				name := m[1] + m[2] + m[3]
				used[name] = true
				if _, ok := builtins[name]; !ok && !defined[name] {
					t.Errorf("%s: variable $%s is not defined", path, name)
				}
			}
		}
	}
	walk("", d)
	for name := range defined {
		if !used[name] {
			t.Errorf("variable %q is defined but never used", name)
		}
	}
}
