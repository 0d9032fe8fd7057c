package awsemu

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// The orders ListSecrets returns secrets in are kept as indexes, so that a
// page costs the secrets it looks at, not the number of secrets: a page
// seeks to where its NextToken says the listing stands (a binary search)
// and walks forward from there.
//
// Each index orders the secrets by a snapshot of their sort keys taken when
// they were indexed (secret.listed), never by the live fields: a change to a
// secret cannot break an index's order behind its back. Every change goes
// through markDirtyLocked, which calls state.reorder to move the secret to
// its new place; add and remove keep the indexes in step with Secrets.

// sortKey is one of ListSecrets' SortBy orders.
type sortKey int

const (
	byCreated sortKey = iota
	byLastAccessed
	byLastChanged
	byName
	numSortKeys
)

// sortKeyOf maps a (validated) SortBy value to its order; "" is CreatedDate,
// AWS's default.
func sortKeyOf(sortBy string) sortKey {
	switch sortBy {
	case "last-accessed-date":
		return byLastAccessed
	case "last-changed-date":
		return byLastChanged
	case "name":
		return byName
	}
	return byCreated
}

// listedKeys is the snapshot of a secret's sort keys its index entries are
// ordered by. Times carry no monotonic reading, so they compare by the wall
// clock alone, as they do once read back from a state file or a NextToken.
type listedKeys struct {
	created, lastAccessed, lastChanged time.Time
	name, arn                          string
	seq                                int64
}

// keysOf returns the current sort keys of sec. A secret never read sorts by
// LastAccessedDate as the zero time, before every secret that was.
func keysOf(sec *secret) listedKeys {
	k := listedKeys{created: sec.Created.Round(0), lastChanged: sec.LastChanged.Round(0), name: sec.Name, arn: sec.ARN, seq: sec.Seq}
	if sec.LastAccessed != nil {
		k.lastAccessed = sec.LastAccessed.Round(0)
	}
	return k
}

// position is a place in one order: the sort key (a time, or the name when
// sorting by name), then the secret's sequence number and ARN, which make
// the order total. A NextToken carries one.
type position struct {
	t    time.Time
	name string
	seq  int64
	arn  string
}

func (k sortKey) position(l *listedKeys) position {
	p := position{seq: l.seq, arn: l.arn}
	switch k {
	case byCreated:
		p.t = l.created
	case byLastAccessed:
		p.t = l.lastAccessed
	case byLastChanged:
		p.t = l.lastChanged
	case byName:
		p.name = l.name
	}
	return p
}

func (k sortKey) compare(a, b position) int {
	var c int
	if k == byName {
		c = strings.Compare(a.name, b.name)
	} else {
		c = a.t.Compare(b.t)
	}
	if c != 0 {
		return c
	}
	if a.seq != b.seq {
		if a.seq < b.seq {
			return -1
		}
		return 1
	}
	return strings.Compare(a.arn, b.arn)
}

// chunkMax bounds a chunk of an orderIndex: an insert or a removal moves at
// most this many pointers, and a chunk that grows past it is split in two.
const chunkMax = 512

// orderIndex holds secrets in one order as a list of sorted chunks: seeking
// is a binary search over the chunks' last entries and then within one
// chunk, an insert or a removal shifts one chunk, and walking on is a step.
type orderIndex struct {
	key    sortKey
	chunks [][]*secret
}

func (x *orderIndex) pos(sec *secret) position { return x.key.position(&sec.listed) }

// search returns the first place (chunk, index) at or after which every
// entry satisfies after, a predicate that is false and then true along the
// order; (len(chunks), 0) when no entry does.
func (x *orderIndex) search(after func(position) bool) (int, int) {
	c := sort.Search(len(x.chunks), func(c int) bool {
		ch := x.chunks[c]
		return after(x.pos(ch[len(ch)-1]))
	})
	if c == len(x.chunks) {
		return c, 0
	}
	ch := x.chunks[c]
	return c, sort.Search(len(ch), func(i int) bool { return after(x.pos(ch[i])) })
}

// insert adds sec at its place by sec.listed.
func (x *orderIndex) insert(sec *secret) {
	p := x.pos(sec)
	c, i := x.search(func(q position) bool { return x.key.compare(q, p) > 0 })
	if len(x.chunks) == 0 {
		x.chunks = [][]*secret{{sec}}
		return
	}
	if c == len(x.chunks) {
		c = len(x.chunks) - 1
		i = len(x.chunks[c])
	}
	ch := slices.Insert(x.chunks[c], i, sec)
	if len(ch) <= chunkMax {
		x.chunks[c] = ch
		return
	}
	half := len(ch) / 2
	x.chunks[c] = slices.Clip(ch[:half])
	x.chunks = slices.Insert(x.chunks, c+1, slices.Clone(ch[half:]))
}

// remove takes sec out, found by sec.listed (so before the snapshot
// changes). It reports whether sec was there.
func (x *orderIndex) remove(sec *secret) bool {
	p := x.pos(sec)
	c, i := x.search(func(q position) bool { return x.key.compare(q, p) >= 0 })
	for c < len(x.chunks) {
		ch := x.chunks[c]
		if x.key.compare(x.pos(ch[i]), p) != 0 {
			return false
		}
		if ch[i] == sec {
			break
		}
		if i++; i == len(ch) {
			c, i = c+1, 0
		}
	}
	if c == len(x.chunks) {
		return false
	}
	ch := slices.Delete(x.chunks[c], i, i+1)
	x.chunks[c] = ch
	// Merge the chunk with a neighbour when both together fill at most half
	// a chunk: any two neighbours then hold more than chunkMax/2 entries,
	// so removals cannot leave a long list of nearly empty chunks behind.
	switch {
	case len(ch) == 0:
		x.chunks = slices.Delete(x.chunks, c, c+1)
	case c > 0 && len(x.chunks[c-1])+len(ch) <= chunkMax/2:
		x.chunks[c-1] = append(x.chunks[c-1], ch...)
		x.chunks = slices.Delete(x.chunks, c, c+1)
	case c+1 < len(x.chunks) && len(ch)+len(x.chunks[c+1]) <= chunkMax/2:
		x.chunks[c] = append(ch, x.chunks[c+1]...)
		x.chunks = slices.Delete(x.chunks, c+1, c+2)
	}
	return true
}

// build replaces the index's content with secs, sorting them once.
func (x *orderIndex) build(secs []*secret) {
	all := slices.Clone(secs)
	slices.SortFunc(all, func(a, b *secret) int { return x.key.compare(x.pos(a), x.pos(b)) })
	x.chunks = nil
	for len(all) > 0 {
		n := min(len(all), chunkMax/2)
		x.chunks = append(x.chunks, slices.Clip(all[:n]))
		all = all[n:]
	}
}

// cursor is a place in an orderIndex while it does not change (a
// ListSecrets page holds the lock throughout).
type cursor struct {
	x    *orderIndex
	c, i int
}

// seek returns a cursor at the first entry at or after p, or, going
// backwards (desc), at the last entry at or before p. A nil p is the start
// of the walk: the first entry, or the last one going backwards.
func (x *orderIndex) seek(p *position, desc bool) cursor {
	cur := cursor{x: x}
	switch {
	case p == nil && !desc:
	case p == nil:
		cur.c = len(x.chunks)
		cur.prev()
	case !desc:
		cur.c, cur.i = x.search(func(q position) bool { return x.key.compare(q, *p) >= 0 })
	default:
		cur.c, cur.i = x.search(func(q position) bool { return x.key.compare(q, *p) > 0 })
		cur.prev()
	}
	return cur
}

func (cur *cursor) valid() bool { return cur.c >= 0 && cur.c < len(cur.x.chunks) }

func (cur *cursor) secret() *secret { return cur.x.chunks[cur.c][cur.i] }

func (cur *cursor) next() {
	if cur.i++; cur.i == len(cur.x.chunks[cur.c]) {
		cur.c, cur.i = cur.c+1, 0
	}
}

func (cur *cursor) prev() {
	if cur.i--; cur.i < 0 {
		if cur.c--; cur.c >= 0 {
			cur.i = len(cur.x.chunks[cur.c]) - 1
		}
	}
}

// step moves one entry on in the walk's direction.
func (cur *cursor) step(desc bool) {
	if desc {
		cur.prev()
	} else {
		cur.next()
	}
}

// secretOrders holds one index per sort key.
type secretOrders [numSortKeys]orderIndex

func newSecretOrders() secretOrders {
	var o secretOrders
	for k := range o {
		o[k].key = sortKey(k)
	}
	return o
}

func (o *secretOrders) insert(sec *secret) {
	sec.listed = keysOf(sec)
	for k := range o {
		o[k].insert(sec)
	}
}

func (o *secretOrders) remove(sec *secret) {
	for k := range o {
		o[k].remove(sec)
	}
}

// reorder moves sec to its place in every order whose key changed since it
// was indexed.
func (o *secretOrders) reorder(sec *secret) {
	now := keysOf(sec)
	if now == sec.listed {
		return
	}
	var moved [numSortKeys]bool
	for k := range o {
		x := &o[k]
		if x.key.compare(x.pos(sec), x.key.position(&now)) != 0 {
			moved[k] = x.remove(sec)
		}
	}
	sec.listed = now
	for k, m := range moved {
		if m {
			o[k].insert(sec)
		}
	}
}

func (o *secretOrders) build(secs []*secret) {
	for _, sec := range secs {
		sec.listed = keysOf(sec)
	}
	for k := range o {
		o[k].build(secs)
	}
}

// sortKeyNames are the SortBy values of the orders.
var sortKeyNames = [numSortKeys]string{
	byCreated:      "created-date",
	byLastAccessed: "last-accessed-date",
	byLastChanged:  "last-changed-date",
	byName:         "name",
}
