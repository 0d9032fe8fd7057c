package logsemu

import (
	"sort"
	"strconv"
	"strings"
)

// key orders events the way CloudWatch Logs returns them: by timestamp, then
// ingestion time, then arrival (the request and the position in it).
type key struct {
	ts     int64 // event timestamp, ms since the epoch
	ingest int64 // ingestion time, ms since the epoch
	seq    uint64
}

func (a key) cmp(b key) int {
	switch {
	case a.ts != b.ts:
		return cmpInt(a.ts, b.ts)
	case a.ingest != b.ingest:
		return cmpInt(a.ingest, b.ingest)
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}

func cmpInt(a, b int64) int {
	if a < b {
		return -1
	}
	return 1
}

// id renders k as a 56-digit eventId (the length CloudWatch Logs uses) that
// sorts like k.
func (k key) id() string {
	b := make([]byte, 0, 56)
	b = appendPadded(b, uint64(k.ts), 20)
	b = appendPadded(b, uint64(k.ingest), 20)
	b = appendPadded(b, k.seq%1e16, 16)
	return string(b)
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v uint64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], v, 10)
	for range width - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}

// parseKeyID is the inverse of key.id.
func parseKeyID(s string) (key, bool) {
	if len(s) != 56 {
		return key{}, false
	}
	ts, err1 := strconv.ParseInt(s[:20], 10, 64)
	ing, err2 := strconv.ParseInt(s[20:40], 10, 64)
	seq, err3 := strconv.ParseUint(s[40:], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || ts < 0 || ing < 0 {
		return key{}, false
	}
	return key{ts: ts, ingest: ing, seq: seq}, true
}

// token renders a pagination position: direction 'f' (forward) or 'b'
// (backward) and the key of the event the next page continues from, in the
// shape of CloudWatch Logs' GetLogEvents tokens ("f/<56 digits>/s").
func token(dir byte, k key) string { return string(dir) + "/" + k.id() + "/s" }

func parseToken(s string) (dir byte, k key, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[2] != "s" || (parts[0] != "f" && parts[0] != "b") {
		return 0, key{}, false
	}
	k, ok = parseKeyID(parts[1])
	return parts[0][0], k, ok
}

type event struct {
	key
	msg string
}

type stream struct {
	name       string
	created    int64
	events     []event // sorted by key
	lastIngest int64
	uploads    int64 // PutLogEvents calls: the upload sequence token
}

type group struct {
	name              string
	created           int64
	class             string
	kmsKeyID          string
	deletionProtected bool
	tags              map[string]string
	streams           map[string]*stream
	storedBytes       int64
}

// add inserts batch (sorted by key, all keys greater than any stored key of
// the same ingestion) into st. Appending is the common case; an older batch
// is merged in.
func (g *group) add(st *stream, batch []event) {
	if len(batch) == 0 {
		return
	}
	sort.SliceStable(batch, func(i, j int) bool { return batch[i].key.cmp(batch[j].key) < 0 })
	for _, e := range batch {
		g.storedBytes += int64(len(e.msg))
		if e.ingest > st.lastIngest {
			st.lastIngest = e.ingest
		}
	}
	n := len(st.events)
	if n == 0 || st.events[n-1].key.cmp(batch[0].key) <= 0 {
		st.events = append(st.events, batch...)
		return
	}
	merged := make([]event, 0, n+len(batch))
	i, j := 0, 0
	for i < n && j < len(batch) {
		if st.events[i].key.cmp(batch[j].key) <= 0 {
			merged = append(merged, st.events[i])
			i++
		} else {
			merged = append(merged, batch[j])
			j++
		}
	}
	merged = append(merged, st.events[i:]...)
	merged = append(merged, batch[j:]...)
	st.events = merged
}

// firstAtOrAfter returns the index of the first event with timestamp >= ts.
func (st *stream) firstAtOrAfter(ts int64) int {
	return sort.Search(len(st.events), func(i int) bool { return st.events[i].ts >= ts })
}

// firstAfterKey returns the index of the first event whose key is > k.
func (st *stream) firstAfterKey(k key) int {
	return sort.Search(len(st.events), func(i int) bool { return st.events[i].key.cmp(k) > 0 })
}

// firstAtOrAfterKey returns the index of the first event whose key is >= k.
func (st *stream) firstAtOrAfterKey(k key) int {
	return sort.Search(len(st.events), func(i int) bool { return st.events[i].key.cmp(k) >= 0 })
}

func (s *Service) groupARN(name string) string {
	return "arn:aws:logs:" + s.region + ":" + s.account + ":log-group:" + name
}

func (s *Service) streamARN(g, st string) string {
	return s.groupARN(g) + ":log-stream:" + st
}
