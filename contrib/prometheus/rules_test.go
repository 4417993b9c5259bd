// Package prometheus holds tetherd's Prometheus alerting rules and the
// tests that check them: promtool's own checks and unit tests
// (tether.rules.test.yml), and, without any tool, the contract between the
// rules, the metrics tetherd exports (agent/metrics) and the runbook
// (docs/EVENTS.md).
package prometheus

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	yaml "go.yaml.in/yaml/v3"

	"github.com/tether-ha/tether/agent/metrics"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/testbed"
)

const (
	rulesFile   = "tether.rules.yml"
	testsFile   = "tether.rules.test.yml"
	runbookFile = "../../docs/EVENTS.md"
	runbookURL  = "https://github.com/tether-ha/tether/blob/main/docs/EVENTS.md#"
)

// The alerts the rules must define, each once.
var alerts = []string{
	"TetherLinkDown", "TetherPeerJeopardy", "TetherPeerDown", "TetherInterconnectPartitioned",
	"TetherCrossConnected", "TetherSharedSegment", "TetherMTUMismatch", "TetherLinkFlapping",
	"TetherLinkLossy", "TetherAuthFailures", "TetherDuplicateNodeID", "TetherAgentDown",
	"TetherAgentPaused", "TetherMirrorLagHigh", "TetherMirrorStalled", "TetherMirrorDiverged",
	"TetherFailover", "TetherFailoverRefused", "TetherNoQuorum", "TetherSplitBrainRisk",
}

var annotationKeys = []string{"description", "runbook_url", "summary"}

func promtool(t *testing.T) string {
	t.Helper()
	return testbed.RequireTool(t, "promtool", "prometheus")
}

func runPromtool(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	return exec.CommandContext(t.Context(), promtool(t), args...).CombinedOutput()
}

func TestPromtoolCheckRules(t *testing.T) {
	if out, err := runPromtool(t, "check", "rules", rulesFile); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	if out, err := runPromtool(t, "test", "rules", testsFile); err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", testsFile, err, out)
	}
}

// The unit tests catch broken rules: each mutation of an alert's rule,
// run against the unchanged tests of that alert, must fail them.
func TestPromtoolTestsCatchBrokenRules(t *testing.T) {
	promtool(t)
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	mutations := []struct{ alert, name, old, new string }{
		{"TetherLinkDown", "for a peer that stopped", `{reason!="peer-stopped"}`, ``},
		{"TetherLinkDown", "without its for", "for: 5s", "for: 0s"},
		{"TetherPeerDown", "on a partition", `tether_node_state{state="DOWN"}`, `tether_node_state{state=~"DOWN|PARTITIONED"}`},
		{"TetherInterconnectPartitioned", "on a peer down", `tether_node_state{state="PARTITIONED"}`, `tether_node_state{state=~"DOWN|PARTITIONED"}`},
		{"TetherPeerJeopardy", "without its for", "state=\"JEOPARDY\"} == 1\n        for: 10s", "state=\"JEOPARDY\"} == 1\n        for: 0s"},
		{"TetherInterconnectPartitioned", "without its for", "# as a broken interconnect.\n        for: 10s", "# as a broken interconnect.\n        for: 0s"},
		{"TetherAuthFailures", "on a flat counter", `increase(tether_network_auth_failures_total[5m]) > 0`, `increase(tether_network_auth_failures_total[5m]) >= 0`},
		{"TetherAgentPaused", "remembered too briefly", `increase(tether_agent_pauses_total[5m])`, `increase(tether_agent_pauses_total[1m])`},
		{"TetherLinkFlapping", "by its reason only", `increase(tether_link_flaps_total[10m]) >= 3`, `increase(tether_link_flaps_total[10m]) >= 30`},
		{"TetherPeerDown", "naming a label it lacks", `peer {{ $labels.peer }} is DOWN`, `peer {{ $labels.network }} is DOWN`},
		{"TetherAgentPaused", "with a wrong runbook", "EVENTS.md#agentpaused", "EVENTS.md#agentstart"},
		{"TetherMirrorLagHigh", "without its for", "for: 2m", "for: 0s"},
		{"TetherMirrorLagHigh", "below its threshold", "tether_mirror_lag_seconds > 30", "tether_mirror_lag_seconds > 20"},
		{"TetherMirrorStalled", "on a dead site", "\n            and on(job, instance, node, peer)\n          (tether_node_state{state=~\"OPEN|JEOPARDY\"} == 1)", ""},
		{"TetherMirrorStalled", "on a paused topic", `state=~"PAUSED|DIVERGED"`, `state=~"DIVERGED"`},
		{"TetherMirrorStalled", "on the fetcher's state only", "tether_mirror_since_last_fetch_seconds > 10", "tether_mirror_since_last_fetch_seconds > 1e9"},
		{"TetherMirrorStalled", "on the fetch time only", `tether_mirror_topic_state{state=~"SOURCE_UNAVAILABLE|FAILED"} == 1`, `tether_mirror_topic_state{state=~"SOURCE_UNAVAILABLE|FAILED"} == 2`},
		{"TetherMirrorStalled", "without its for", "state=~\"OPEN|JEOPARDY\"} == 1)\n        for: 1m", "state=~\"OPEN|JEOPARDY\"} == 1)\n        for: 0s"},
		{"TetherMirrorStalled", "without the primary's name", "group_left(peer)\n          (tether_resource_role{role=\"mirror\"} == 1)", "group_left()\n          (tether_resource_role{role=\"mirror\"} == 1)"},
		{"TetherMirrorDiverged", "on old primaries only", `(tether_mirror_topic_state{state="DIVERGED"} == 1)`, `(tether_mirror_topic_state{state="DIVERGED"} == 2)`},
		{"TetherMirrorDiverged", "on mirror topics only", `tether_resource_role{role="diverged"} == 1`, `tether_resource_role{role="diverged"} == 2`},
		{"TetherMirrorDiverged", "with a for", "        labels:\n          severity: critical\n        annotations:\n          summary: '{{ $labels.node }}: resource", "        for: 30s\n        labels:\n          severity: critical\n        annotations:\n          summary: '{{ $labels.node }}: resource"},
		{"TetherMirrorDiverged", "per topic", "max by (job, instance, node, resource, peer) (", "max by (job, instance, node, resource, peer, topic) ("},
		{"TetherFailover", "on a flat counter", "increase(tether_failovers_total[15m]) > 0", "increase(tether_failovers_total[15m]) >= 0"},
		{"TetherFailover", "remembered too briefly", "increase(tether_failovers_total[15m])", "increase(tether_failovers_total[5m])"},
		{"TetherFailover", "naming the target, not the node", "'{{ $labels.node }} became the primary", "'{{ $labels.instance }} became the primary"},
		{"TetherFailoverRefused", "on every decision", "(tether_failover_alert == 1)\n            * on", "(tether_failover_alert >= 0)\n            * on"},
		{"TetherFailoverRefused", "without the reason", "group_left(reason)\n          (tether_failover_decision == 1)", "group_left()\n          (tether_failover_decision == 1)"},
		{"TetherFailoverRefused", "without its for", "(tether_failover_decision == 1)\n        for: 30s", "(tether_failover_decision == 1)\n        for: 0s"},
		{"TetherNoQuorum", "with automatic failover off", "(tether_failover_auto == 1)\n                    and on", "(tether_failover_auto >= 0)\n                    and on"},
		{"TetherNoQuorum", "on the mirror only", `label_replace(tether_failover_fenced == 1, "cause"`, `label_replace(tether_failover_fenced == 2, "cause"`},
		{"TetherNoQuorum", "on the primary only", `tether_failover_decision{reason="no-quorum"} == 1`, `tether_failover_decision{reason="no-quorum"} == 2`},
		{"TetherNoQuorum", "on a mirror's quorum gauge", `label_replace(tether_failover_decision{reason="no-quorum"} == 1, "cause"`, `label_replace((tether_failover_quorum == 0) and on(job, instance, node, resource) (tether_failover_role{role="mirror"} == 1), "cause"`},
		{"TetherNoQuorum", "without its for", "\"cause\", \"no-quorum\", \"\", \"\")\n          )\n        for: 1m", "\"cause\", \"no-quorum\", \"\", \"\")\n          )\n        for: 0s"},
		{"TetherSplitBrainRisk", "without its for", ") > 1\n          )\n        for: 10s", ") > 1\n          )\n        for: 0s"},
		{"TetherSplitBrainRisk", "on a partition only", `reason=~"primary-partitioned|epoch-changed"`, `reason=~"primary-partitioned"`},
		{"TetherSplitBrainRisk", "on a new epoch only", `reason=~"primary-partitioned|epoch-changed"`, `reason=~"epoch-changed"`},
		{"TetherSplitBrainRisk", "on the decision only", ")[1m:10s]\n            ) > 1", ")[1m:10s]\n            ) > 1e9"},
		{"TetherSplitBrainRisk", "on scrape skew", ")[1m:10s]", ")[10s:10s]"},
		{"TetherSplitBrainRisk", "counting fenced primaries", "count by (job, cluster, resource) (\n                      (tether_failover_role{role=\"primary\"} == 1)\n                        unless on(job, instance, node, resource)\n                      (tether_failover_fenced == 1)", "count by (job, cluster, resource) (\n                      (tether_failover_role{role=\"primary\"} == 1)"},
		{"TetherSplitBrainRisk", "on a mirror deciding primary-up", `reason=~"primary-partitioned|epoch-changed"`, `reason=~"primary-partitioned|epoch-changed|primary-up"`},
	}
	for _, m := range mutations {
		t.Run(m.alert+" "+m.name, func(t *testing.T) {
			if bytes.Count(rules, []byte(m.old)) != 1 {
				t.Fatalf("%s: %q is not in it exactly once: update the mutation", rulesFile, m.old)
			}
			dir := t.TempDir()
			write(t, filepath.Join(dir, rulesFile), bytes.Replace(rules, []byte(m.old), []byte(m.new), 1))
			write(t, filepath.Join(dir, testsFile), testsOf(t, m.alert))
			out, err := runPromtool(t, "test", "rules", filepath.Join(dir, testsFile))
			if err == nil {
				t.Errorf("promtool test rules passed with %q replaced by %q:\n%s", m.old, m.new, out)
			} else if !bytes.Contains(out, []byte("alertname: "+m.alert+",")) {
				t.Errorf("promtool test rules failed, but no test of %s (%v):\n%s", m.alert, err, out)
			}
		})
	}
}

// testsOf returns the unit test file with only the tests that evaluate
// alert (promtool 2.42 cannot select tests; evaluating them all is slow).
func testsOf(t *testing.T, alert string) []byte {
	t.Helper()
	b, err := os.ReadFile(testsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	tests, _ := f["tests"].([]any)
	var kept []any
	for _, tc := range tests {
		ats, _ := tc.(map[string]any)["alert_rule_test"].([]any)
		if slices.ContainsFunc(ats, func(at any) bool { return at.(map[string]any)["alertname"] == alert }) {
			kept = append(kept, tc)
		}
	}
	if len(kept) == 0 {
		t.Fatalf("%s: no test of %s", testsFile, alert)
	}
	f["tests"] = kept
	out, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type testFile struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	Tests              []struct {
		Interval    string `yaml:"interval"`
		InputSeries []struct {
			Series string `yaml:"series"`
			Values string `yaml:"values"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// decodeStrict decodes a YAML file, failing on a key the struct lacks (a
// misspelt key would otherwise be ignored).
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadRules(t *testing.T) map[string]rule {
	t.Helper()
	var f ruleFile
	decodeStrict(t, rulesFile, &f)
	if len(f.Groups) != 1 || f.Groups[0].Name != "tether" {
		t.Fatalf("%s: want one rule group named tether", rulesFile)
	}
	byName := map[string]rule{}
	for _, r := range f.Groups[0].Rules {
		if r.Alert == "" {
			t.Errorf("%s: a rule that is no alert (record %q)", rulesFile, r.Record)
			continue
		}
		if _, dup := byName[r.Alert]; dup {
			t.Errorf("%s: %s is defined twice", rulesFile, r.Alert)
		}
		byName[r.Alert] = r
	}
	for _, a := range alerts {
		if _, ok := byName[a]; !ok {
			t.Errorf("%s: alert %s is missing", rulesFile, a)
		}
	}
	for a := range byName {
		if !slices.Contains(alerts, a) {
			t.Errorf("%s: alert %s is not in this test's list (add it, with its row in %s)", rulesFile, a, runbookFile)
		}
	}
	return byName
}

var (
	stringLitRe  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	tetherNameRe = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:])(tether_[a-zA-Z0-9_:]*)`)
	matcherRe    = regexp.MustCompile(`\b(state|reason|role)\s*(=~|!~|=|!=)\s*"([^"]*)"`)
	selectorRe   = regexp.MustCompile(`(tether_[a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	linkAnchorRe = regexp.MustCompile(`\]\(#([^)]*)\)`)
)

// The rules hold to the metrics and the runbook: every alert once, with
// a severity, a summary, a description and a runbook link to a section
// of docs/EVENTS.md; every tether_ name one that tetherd exports; every
// state, reason and role matched a value that family's label has (a
// link reason is no failover reason).
func TestRulesContract(t *testing.T) {
	rules := loadRules(t)
	anchors := headingAnchors(t, runbookFile)
	names := exportedNames()
	for _, a := range alerts {
		r, ok := rules[a]
		if !ok {
			continue
		}
		switch r.Labels["severity"] {
		case "critical", "warning":
		default:
			t.Errorf("%s: severity %q, want critical or warning", a, r.Labels["severity"])
		}
		for _, k := range annotationKeys {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("%s: no %s annotation", a, k)
			}
		}
		if u := r.Annotations["runbook_url"]; u != "" {
			anchor, ok := strings.CutPrefix(u, runbookURL)
			if !ok {
				t.Errorf("%s: runbook_url %q does not start with %s", a, u, runbookURL)
			} else if !anchors[anchor] {
				t.Errorf("%s: runbook_url anchor #%s is no heading of %s", a, anchor, runbookFile)
			}
		}
		expr := stringLitRe.ReplaceAllString(r.Expr, `""`) // label values are no metric names
		for _, m := range tetherNameRe.FindAllStringSubmatch(expr, -1) {
			if !names[m[1]] {
				t.Errorf("%s: %s is no metric tetherd exports (agent/metrics.Names)", a, m[1])
			}
		}
		inSelectors := 0
		for _, sel := range selectorRe.FindAllStringSubmatch(r.Expr, -1) {
			for _, m := range matcherRe.FindAllStringSubmatch(sel[2], -1) {
				inSelectors++
				known, ok := labelValues[sel[1]][m[1]]
				if !ok {
					t.Errorf("%s: %s{%s%s%q}: %s has no label %s with known values", a, sel[1], m[1], m[2], m[3], sel[1], m[1])
					continue
				}
				values := []string{m[3]}
				if strings.HasSuffix(m[2], "~") { // the regular expressions used are alternatives of values
					values = strings.Split(m[3], "|")
				}
				for _, v := range values {
					if !slices.Contains(known(), v) {
						t.Errorf("%s: %s{%s%s%q}: no such %s %q of %s", a, sel[1], m[1], m[2], m[3], m[1], v, sel[1])
					}
				}
			}
		}
		if n := len(matcherRe.FindAllString(r.Expr, -1)); n != inSelectors {
			t.Errorf("%s: %d state, reason or role matchers outside a tether_ selector: they cannot be checked", a, n-inSelectors)
		}
	}
	// The one thing the stalled mirror's page must make plain.
	if d := rules["TetherMirrorStalled"].Annotations["description"]; !strings.Contains(strings.Join(strings.Fields(d), " "), "a stuck replicator, not a dead site") {
		t.Errorf("TetherMirrorStalled: the description does not say it is a stuck replicator, not a dead site:\n%s", d)
	}
}

// exportedNames is metrics.Names() with the series names of histograms
// (_bucket, _sum, _count of a family that is no counter).
func exportedNames() map[string]bool {
	names := map[string]bool{}
	for _, n := range metrics.Names() {
		names[n] = true
		if !strings.HasSuffix(n, "_total") {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[n+s] = true
			}
		}
	}
	return names
}

// labelValues are, per family, the values of its state, reason or role
// label: from llt, link and node states and the reasons ("none" for a
// healthy link; a network's reasons are among them); from the
// replicator, mirror topic states and resource roles; from the failover
// rules, the decision reasons, and the roles with none.
var labelValues = map[string]map[string]func() []string{
	metrics.LinkState:        {"state": linkStates},
	metrics.LinkReason:       {"reason": reasons},
	metrics.NodeState:        {"state": nodeStates},
	metrics.LocalState:       {"state": nodeStates},
	metrics.NetReason:        {"reason": reasons},
	metrics.MirrorTopicState: {"state": topicStates},
	metrics.ResourceRole:     {"role": roles},
	metrics.FailoverRole:     {"role": failoverRoles},
	metrics.FailoverDecision: {"reason": failoverReasons},
}

func linkStates() []string {
	return []string{llt.LinkUp.String(), llt.LinkTrouble.String(), llt.LinkDown.String()}
}

func nodeStates() []string {
	return []string{llt.NodeOpen.String(), llt.NodeJeopardy.String(), llt.NodeConnWait.String(),
		llt.NodeDown.String(), llt.NodePartitioned.String()}
}

// topicStates are a mirror topic's states: the fetcher's (its String
// tells where they end) and the builtin driver's own.
func topicStates() []string {
	out := []string{builtin.StatePrimary, builtin.StatePendingStopped, builtin.StateStopped}
	for st := mirror.State(0); !strings.HasPrefix(st.String(), "State("); st++ {
		out = append(out, st.String())
	}
	if !slices.Contains(out, builtin.StateDiverged) {
		out = append(out, builtin.StateDiverged)
	}
	return out
}

func roles() []string {
	return []string{string(resource.Primary), string(resource.Mirror), string(resource.Stopped), string(resource.Diverged)}
}

// failoverRoles are the roles of a copy as the failover supervisor
// reports them: the replicator's, and none (no copy: a witness).
func failoverRoles() []string { return append(roles(), "none") }

func failoverReasons() []string { return slices.Clone(failover.Reasons) }

func reasons() []string {
	rs := []string{"none"}
	for i := 1; i < llt.NumReasons; i++ {
		rs = append(rs, llt.Reason(i).String())
	}
	return rs
}

// headingAnchors returns the GitHub anchors of a markdown file's headings
// outside fenced code: lower case, only letters, digits, '-', '_' and
// spaces kept, spaces made '-'; a repeated anchor gets -1, -2, ...
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		hashes := len(line) - len(strings.TrimLeft(line, "#"))
		text, ok := strings.CutPrefix(line[hashes:], " ")
		if fenced || hashes == 0 || hashes > 6 || !ok {
			continue
		}
		a := githubAnchor(text)
		if n := seen[a]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubAnchor(t *testing.T) {
	for in, want := range map[string]string{
		"link.down":         "linkdown",
		"node.duplicate_id": "nodeduplicate_id",
		"The tcp channel":   "the-tcp-channel",
		"Alerts":            "alerts",
		"`x` (y) -- z":      "x-y----z",
	} {
		if got := githubAnchor(in); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", in, got, want)
		}
	}
}

// The runbook's "## Alerts" table lists every alert once, with its
// severity, and its section links resolve.
func TestRunbookAlertsTable(t *testing.T) {
	rules := loadRules(t)
	anchors := headingAnchors(t, runbookFile)
	b, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n## Alerts\n")
	if !ok {
		t.Fatalf("%s: no \"## Alerts\" section", runbookFile)
	}
	if i := strings.Index(after, "\n## "); i >= 0 {
		after = after[:i]
	}
	rowRe := regexp.MustCompile("^\\| `(\\w+)` \\((critical|warning)\\) \\|")
	listed := map[string]int{}
	for line := range strings.Lines(after) {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		m := rowRe.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s: alerts row %q does not start with | `Alert` (severity) |", runbookFile, strings.TrimSpace(line))
			continue
		}
		listed[m[1]]++
		if r, ok := rules[m[1]]; ok && r.Labels["severity"] != m[2] {
			t.Errorf("%s: %s is %s in the table, %s in the rules", runbookFile, m[1], m[2], r.Labels["severity"])
		}
		for _, l := range linkAnchorRe.FindAllStringSubmatch(line, -1) {
			if !anchors[l[1]] {
				t.Errorf("%s: %s row links to #%s, no heading", runbookFile, m[1], l[1])
			}
		}
	}
	for _, a := range alerts {
		if listed[a] != 1 {
			t.Errorf("%s: the alerts table lists %s %d times, want once", runbookFile, a, listed[a])
		}
	}
	for a := range listed {
		if !slices.Contains(alerts, a) {
			t.Errorf("%s: the alerts table lists %s, which is no alert", runbookFile, a)
		}
	}
}

var (
	seriesRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$`)
	labelRe  = regexp.MustCompile(`\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)`)
)

// stateSets are the state-set families and their label. mayBeAllZero:
// every value may be 0 at once (the decision on a node that is not the
// mirror, or before its first decision).
var stateSets = map[string]struct {
	label        string
	values       func() []string
	mayBeAllZero bool
}{
	metrics.LinkState:  {"state", linkStates, false},
	metrics.LinkReason: {"reason", reasons, false},
	metrics.NodeState:  {"state", nodeStates, false},
	// The replicator's.
	metrics.MirrorTopicState: {"state", topicStates, false},
	metrics.ResourceRole:     {"role", roles, false},
	// The failover supervisor's.
	metrics.FailoverRole:     {"role", failoverRoles, false},
	metrics.FailoverDecision: {"reason", failoverReasons, true},
}

// The unit tests cover every alert, firing (with the labels and
// annotations expected) and not firing; their evaluation is at a fixed
// pace; their input looks like what tetherd exports.
func TestRulesTestsCoverEveryAlert(t *testing.T) {
	rules := loadRules(t)
	var f testFile
	decodeStrict(t, testsFile, &f)
	if !slices.Equal(f.RuleFiles, []string{rulesFile}) {
		t.Errorf("%s: rule_files %v, want [%s]", testsFile, f.RuleFiles, rulesFile)
	}
	if f.EvaluationInterval != "1s" {
		t.Errorf("%s: evaluation_interval %q, want 1s set explicitly", testsFile, f.EvaluationInterval)
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for i, tc := range f.Tests {
		where := fmt.Sprintf("%s: test %d", testsFile, i+1)
		if tc.Interval == "" {
			t.Errorf("%s: no interval", where)
		}
		checkInputSeries(t, where, tc.InputSeries)
		for _, at := range tc.AlertRuleTests {
			r, ok := rules[at.Alertname]
			if !ok {
				t.Errorf("%s: at %s: %s is no alert of %s", where, at.EvalTime, at.Alertname, rulesFile)
				continue
			}
			if len(at.ExpAlerts) == 0 {
				quiet[at.Alertname]++
			}
			for _, e := range at.ExpAlerts {
				fires[at.Alertname]++
				if e.ExpLabels["severity"] != r.Labels["severity"] {
					t.Errorf("%s: at %s: %s expected with severity %q, the rule has %q",
						where, at.EvalTime, at.Alertname, e.ExpLabels["severity"], r.Labels["severity"])
				}
				var keys []string
				for k := range e.ExpAnnotations {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if !slices.Equal(keys, annotationKeys) {
					t.Errorf("%s: at %s: %s expected with annotations %v, want %v",
						where, at.EvalTime, at.Alertname, keys, annotationKeys)
				}
			}
		}
	}
	for _, a := range alerts {
		if fires[a] == 0 {
			t.Errorf("%s: no test shows %s firing", testsFile, a)
		}
		if quiet[a] == 0 {
			t.Errorf("%s: no test shows %s not firing (exp_alerts: [])", testsFile, a)
		}
	}
}

// checkInputSeries checks that a test's tether_ series carry the labels
// every tetherd series has, and that each state set is complete: every
// value of its label present for each of its label sets, exactly one of
// them 1 at each sample and the others 0.
func checkInputSeries(t *testing.T, where string, series []struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}) {
	t.Helper()
	sets := map[string]map[string][]float64{} // family and labels but the state's -> value -> samples
	for _, s := range series {
		m := seriesRe.FindStringSubmatch(s.Series)
		if m == nil {
			t.Errorf("%s: series %q is not name{labels}", where, s.Series)
			continue
		}
		name, labels := m[1], parseLabels(m[2])
		if labels == nil {
			t.Errorf("%s: series %q: labels do not parse", where, s.Series)
			continue
		}
		if !strings.HasPrefix(name, "tether_") {
			continue
		}
		if labels["node"] == "" || labels["instance"] == "" || labels["job"] != "tether" {
			t.Errorf("%s: %s: want the labels node, instance and job=\"tether\" of a tetherd series", where, s.Series)
		}
		ss, ok := stateSets[name]
		if !ok {
			continue
		}
		v := labels[ss.label]
		if !slices.Contains(ss.values(), v) {
			t.Errorf("%s: %s: %s %q is no value of the state set", where, s.Series, ss.label, v)
		}
		samples, err := expandValues(s.Values)
		if err != nil {
			t.Errorf("%s: %s: %v", where, s.Series, err)
			continue
		}
		delete(labels, ss.label)
		key := name + " " + fmt.Sprint(labels) // fmt prints maps sorted
		if sets[key] == nil {
			sets[key] = map[string][]float64{}
		}
		sets[key][v] = samples
	}
	for key, members := range sets {
		name, _, _ := strings.Cut(key, " ")
		ss := stateSets[name]
		n := -1
		for _, v := range ss.values() {
			samples, ok := members[v]
			if !ok {
				t.Errorf("%s: state set %s lacks %s=%q: tetherd emits every value", where, key, ss.label, v)
				continue
			}
			if n >= 0 && len(samples) != n {
				t.Errorf("%s: state set %s: %s=%q has %d samples, the others %d", where, key, ss.label, v, len(samples), n)
			}
			n = len(samples)
		}
		for i := range max(n, 0) {
			ones, others := 0, 0
			for _, samples := range members {
				switch {
				case i >= len(samples):
				case samples[i] == 1:
					ones++
				case samples[i] != 0:
					others++
				}
			}
			if (ones != 1 && (ones != 0 || !ss.mayBeAllZero)) || others != 0 {
				t.Errorf("%s: state set %s: sample %d has %d values at 1 and %d neither 0 nor 1, want one at 1, the others 0", where, key, i, ones, others)
				break
			}
		}
	}
}

// expandValues expands promtool's values notation as far as these tests
// use it: "v", "vxN" (N+1 times v) and "a+bxN", "a-bxN" (a, then N steps
// of b). A missing sample ("_", "stale") is an error: tetherd emits every
// series of a state set at every scrape.
func expandValues(s string) ([]float64, error) {
	var out []float64
	for _, tok := range strings.Fields(s) {
		start, times, ok := strings.Cut(tok, "x")
		if !ok {
			start, times = tok, "0"
		}
		n, err := strconv.Atoi(times)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("values %q: bad repeat in %q", s, tok)
		}
		step := 0.0
		if i := strings.LastIndexAny(start, "+-"); i > 0 {
			if step, err = strconv.ParseFloat(start[i:], 64); err != nil {
				return nil, fmt.Errorf("values %q: bad step in %q", s, tok)
			}
			start = start[:i]
		}
		v, err := strconv.ParseFloat(start, 64)
		if err != nil {
			return nil, fmt.Errorf("values %q: %q is not a number", s, tok)
		}
		for k := 0; k <= n; k++ {
			out = append(out, v+float64(k)*step)
		}
	}
	return out, nil
}

func parseLabels(s string) map[string]string {
	labels := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; {
		loc := labelRe.FindStringSubmatchIndex(s)
		if loc == nil || loc[0] != 0 {
			return nil
		}
		labels[s[loc[2]:loc[3]]] = s[loc[4]:loc[5]]
		s = strings.TrimSpace(s[loc[1]:])
	}
	return labels
}
