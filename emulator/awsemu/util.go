package awsemu

import (
	"crypto/rand"
	"math/big"
	"strconv"
	"time"
)

// randomFrom returns n characters drawn uniformly from alphabet with crypto/rand.
func randomFrom(alphabet []rune, n int) string {
	out := make([]rune, n)
	for i := range out {
		out[i] = alphabet[randIndex(len(alphabet))]
	}
	return string(out)
}

func randIndex(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}

var arnSuffixAlphabet = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

// epochTime marshals as AWS JSON 1.1 timestamps do: epoch seconds with
// millisecond precision.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

func ts(t time.Time) *epochTime {
	e := epochTime(t)
	return &e
}

func tsp(t *time.Time) *epochTime {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// day truncates to midnight UTC (LastAccessedDate is date-only at AWS).
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func ptr[T any](v T) *T { return &v }
