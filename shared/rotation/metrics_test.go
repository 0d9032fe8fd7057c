package rotation_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Every dimension set of an EMF line names at least one dimension: a line
// whose dims hold none of Provider, Step and Action (the keyring's
// KeyringCheckFailed: SecretName only) publishes no dimensionless metric.
func TestMetricsDimensionSets(t *testing.T) {
	now := time.Date(2030, 3, 14, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		dims  map[string]string
		extra [][]string
		want  [][]string
	}{
		{"provider and secret", map[string]string{"Provider": "iamkey", "SecretName": "ci/key"}, [][]string{{"SecretName"}},
			[][]string{{"Provider"}, {"SecretName"}, {"Service"}}},
		{"action only", map[string]string{"Action": "sweep"}, nil, [][]string{{"Action"}, {"Service"}}},
		{"secret name only", map[string]string{"SecretName": "svc/key"}, [][]string{{"SecretName"}}, [][]string{{"SecretName"}, {"Service"}}},
		{"no dimension at all", nil, nil, [][]string{{"Service"}}},
		{"an empty extra set", map[string]string{"Provider": "servicekey"}, [][]string{{}}, [][]string{{"Provider"}, {"Service"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			rotation.NewMetrics(&buf, func() time.Time { return now }).Emit(c.dims, c.extra, rotation.MetricDatum{Name: "X", Unit: "Count", Value: 1})
			var line struct {
				AWS struct {
					Timestamp         int64
					CloudWatchMetrics []struct {
						Namespace  string
						Dimensions [][]string
					}
				} `json:"_aws"`
				Service string
				X       float64
			}
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			if len(line.AWS.CloudWatchMetrics) != 1 || line.AWS.Timestamp != now.UnixMilli() || line.Service != "dualkey" || line.X != 1 {
				t.Fatalf("line %s", buf.String())
			}
			if got := line.AWS.CloudWatchMetrics[0].Dimensions; !reflect.DeepEqual(got, c.want) {
				t.Fatalf("dimension sets %v, want %v", got, c.want)
			}
		})
	}
}
