package rotation

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// MetricsNamespace is the CloudWatch namespace of every dualkey metric.
const MetricsNamespace = "dualkey"

// Metrics writes CloudWatch Embedded Metric Format lines. In Lambda, lines
// written to stdout become metrics with no API call.
type Metrics struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewMetrics writes EMF lines to w (nil discards them).
func NewMetrics(w io.Writer, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	return &Metrics{w: w, now: now}
}

// MetricDatum is one named value with a CloudWatch unit.
type MetricDatum struct {
	Name  string
	Unit  string // "Count", "Milliseconds", "Seconds"
	Value float64
}

// Emit writes one EMF line with the given dimensions and values. The
// dimension sets are: the dims among Provider, Step and Action (when there
// is one), each non-empty extra set, and Service alone; other dims are
// properties of the line unless an extra set names them.
func (m *Metrics) Emit(dims map[string]string, extraSets [][]string, data ...MetricDatum) {
	m.emit(dims, nil, extraSets, data...)
}

// emit is Emit with props: properties of the log line that are no
// dimension (CloudWatch keeps them in the log, where Logs Insights and an
// alarm's notification can show them).
func (m *Metrics) emit(dims, props map[string]string, extraSets [][]string, data ...MetricDatum) {
	if m == nil || m.w == nil {
		return
	}
	keys := make([]string, 0, len(dims))
	for _, k := range []string{"Provider", "Step", "Action"} {
		if _, ok := dims[k]; ok {
			keys = append(keys, k)
		}
	}
	// Every metric is also published under Service=dualkey alone, so one
	// CloudWatch alarm per metric covers every provider and secret. An
	// empty set would publish a metric without any dimension: skipped.
	var sets [][]string
	for _, set := range append([][]string{keys}, extraSets...) {
		if len(set) > 0 {
			sets = append(sets, set)
		}
	}
	sets = append(sets, []string{"Service"})
	defs := make([]map[string]string, len(data))
	line := map[string]any{"Service": MetricsNamespace}
	for k, v := range props {
		line[k] = v
	}
	for k, v := range dims {
		line[k] = v
	}
	for i, d := range data {
		defs[i] = map[string]string{"Name": d.Name, "Unit": d.Unit}
		line[d.Name] = d.Value
	}
	line["_aws"] = map[string]any{
		"Timestamp": m.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  MetricsNamespace,
			"Dimensions": sets,
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(append(b, '\n'))
}

// step records the outcome and duration of one rotation step. A failed
// step's line carries fix, the command that ends the failed rotation, as
// the property Fix.
func (m *Metrics) step(provider, step, secretName string, outcome Outcome, d time.Duration, fix string) {
	fail := 0.0
	var props map[string]string
	if outcome == OutcomeFailure {
		fail = 1
		if fix != "" {
			props = map[string]string{"Fix": fix}
		}
	}
	switch step {
	case StepCreate, StepSet, StepTest, StepFinish:
	default:
		step = "invalid" // an event's Step never becomes a dimension of its own
	}
	m.emit(map[string]string{"Provider": provider, "Step": step, "Outcome": string(outcome), "SecretName": secretName}, props,
		[][]string{{"Provider"}, {"SecretName"}},
		MetricDatum{Name: "StepDuration", Unit: "Milliseconds", Value: float64(d.Microseconds()) / 1000},
		MetricDatum{Name: "StepSuccess", Unit: "Count", Value: 1 - fail},
		MetricDatum{Name: "RotationFailed", Unit: "Count", Value: fail},
	)
}
