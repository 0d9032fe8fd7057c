package awsemu

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/testutil"
)

// checkOrders fails unless every list order holds exactly the secrets of
// s.st.Secrets, each once, in strictly increasing order of their snapshots,
// in chunks of 1 to chunkMax entries of which no two neighbours hold half a
// chunk or less together, and every snapshot is its secret's
// current sort keys (so no change escaped markDirtyLocked).
func checkOrders(t *testing.T, s *Server) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range s.st.Secrets {
		if sec.listed != keysOf(sec) {
			t.Fatalf("secret %s is indexed under %+v but its sort keys are %+v", sec.Name, sec.listed, keysOf(sec))
		}
	}
	for k := range s.st.orders {
		x := &s.st.orders[k]
		if x.key != sortKey(k) {
			t.Fatalf("order %d has key %d", k, x.key)
		}
		seen := map[*secret]bool{}
		var prev *position
		for c, ch := range x.chunks {
			if len(ch) == 0 || len(ch) > chunkMax {
				t.Fatalf("%s: chunk %d holds %d entries", sortKeyNames[k], c, len(ch))
			}
			if c > 0 && len(x.chunks[c-1])+len(ch) <= chunkMax/2 {
				t.Fatalf("%s: chunks %d and %d hold %d and %d entries: not merged", sortKeyNames[k], c-1, c, len(x.chunks[c-1]), len(ch))
			}
			for _, sec := range ch {
				if seen[sec] {
					t.Fatalf("%s: secret %s listed twice", sortKeyNames[k], sec.Name)
				}
				seen[sec] = true
				if s.st.Secrets[sec.ARN] != sec {
					t.Fatalf("%s: secret %s is not (or no longer) stored", sortKeyNames[k], sec.Name)
				}
				p := x.pos(sec)
				if prev != nil && x.key.compare(*prev, p) >= 0 {
					t.Fatalf("%s: %+v comes after %+v", sortKeyNames[k], p, *prev)
				}
				prev = &p
			}
		}
		if len(seen) != len(s.st.Secrets) {
			t.Fatalf("%s holds %d secrets, %d stored", sortKeyNames[k], len(seen), len(s.st.Secrets))
		}
	}
}

// referenceList is ListSecrets computed the plain way, as the emulator did
// before the orders: every secret filtered, the matches sorted.
func referenceList(s *Server, fs []filter, sortBy, order string, includeDeleted bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpiredLocked()
	var matched []*secret
	for _, sec := range s.st.Secrets {
		if sec.deleted() && !includeDeleted {
			continue
		}
		if referenceMatch(s, sec, fs) {
			matched = append(matched, sec)
		}
	}
	key := func(sec *secret) time.Time {
		switch sortBy {
		case "last-accessed-date":
			if sec.LastAccessed == nil {
				return time.Time{}
			}
			return *sec.LastAccessed
		case "last-changed-date":
			return sec.LastChanged
		}
		return sec.Created
	}
	less := func(a, b *secret) bool {
		if sortBy == "name" {
			if a.Name != b.Name {
				return a.Name < b.Name
			}
		} else if ka, kb := key(a), key(b); !ka.Equal(kb) {
			return ka.Before(kb)
		}
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.ARN < b.ARN
	}
	sort.Slice(matched, func(i, j int) bool {
		if order == "desc" {
			return less(matched[j], matched[i])
		}
		return less(matched[i], matched[j])
	})
	names := []string{}
	for _, sec := range matched {
		names = append(names, sec.Name)
	}
	return names
}

func referenceMatch(s *Server, sec *secret, fs []filter) bool {
	for _, f := range fs {
		hasPos, posHit := false, false
		for _, v := range f.Values {
			if n, neg := strings.CutPrefix(v, "!"); neg {
				if s.matchOne(sec, f.Key, n) {
					return false
				}
			} else {
				hasPos = true
				posHit = posHit || s.matchOne(sec, f.Key, v)
			}
		}
		if hasPos && !posHit {
			return false
		}
	}
	return true
}

// pagedList lists through every page of size max, checking that each page
// but the last is full and carries a NextToken.
func pagedList(t *testing.T, s *Server, fs []filter, sortBy, order string, includeDeleted bool, max int32) []string {
	t.Helper()
	in := &listSecretsInput{Filters: fs, SortBy: sortBy, SortOrder: order, IncludePlannedDeletion: &includeDeleted, MaxResults: &max}
	s.mu.Lock()
	limit := len(s.st.Secrets) + 1
	s.mu.Unlock()
	names := []string{}
	for pages := 1; ; pages++ {
		res, aerr := s.listSecrets(context.Background(), in)
		if aerr != nil {
			t.Fatalf("page %d: %v", pages, aerr)
		}
		out := res.(listSecretsOutput)
		for _, e := range out.SecretList {
			names = append(names, e.Name)
		}
		if out.NextToken == nil {
			return names
		}
		if len(out.SecretList) != int(max) {
			t.Fatalf("page %d holds %d secrets of %d and a NextToken", pages, len(out.SecretList), max)
		}
		if pages > limit {
			t.Fatalf("the listing does not end: %d pages of %d", pages, max)
		}
		in.NextToken = out.NextToken
	}
}

var listFilterSets = [][]filter{
	nil,
	{{Key: "tag-key", Values: []string{"env"}}},
	{{Key: "tag-key", Values: []string{"dualkey:managed"}}, {Key: "tag-value", Values: []string{"true"}}},
	{{Key: "name", Values: []string{"!app/b", "!app/c"}}},
	{{Key: "all", Values: []string{"prod"}}, {Key: "description", Values: []string{"!api"}}},
}

// checkListings compares every paged listing (each order, both directions,
// with and without secrets scheduled for deletion, several filters) with
// the reference.
func checkListings(t *testing.T, s *Server, rng *rand.Rand) {
	t.Helper()
	for _, by := range []string{"", "created-date", "last-accessed-date", "last-changed-date", "name"} {
		for _, order := range []string{"", "asc", "desc"} {
			for _, del := range []bool{false, true} {
				for i, fs := range listFilterSets {
					max := int32(1 + rng.IntN(7))
					got := pagedList(t, s, fs, by, order, del, max)
					want := referenceList(s, fs, by, order, del)
					if !slices.Equal(got, want) {
						t.Fatalf("sort %q %q, deleted %t, filters #%d, pages of %d:\n got %v\nwant %v", by, order, del, i, max, got, want)
					}
				}
			}
		}
	}
}

// randomOps runs n random operations on s, as a busy account would see
// them: names collide, secrets are read, changed, tagged, rotated, deleted,
// restored and purged as the clock moves, and most calls fail as often as
// they succeed. After each one the orders must be exact.
func randomOps(t *testing.T, s *Server, clock *testutil.FakeClock, rng *rand.Rand, n int, listEvery int) {
	t.Helper()
	ctx := context.Background()
	name := func() *string { return ptr(fmt.Sprintf("app/%c-%d", 'a'+rng.IntN(4), rng.IntN(10))) }
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	randTags := func() []tag {
		var tags []tag
		for _, k := range []string{"env", "team", "dualkey:managed"} {
			if rng.IntN(2) == 0 {
				tags = append(tags, tag{Key: k, Value: pick("prod", "dev", "true", "false", "trueish")})
			}
		}
		return tags
	}
	for i := 0; i < n; i++ {
		switch op := rng.IntN(14); op {
		case 0, 1:
			in := &createSecretInput{Name: name(), SecretString: ptr("v"), Tags: randTags()}
			if rng.IntN(2) == 0 {
				in.Description = ptr(pick("Production DB", "api key", "prod-api"))
			}
			s.createSecret(ctx, in)
		case 2:
			s.deleteSecret(ctx, &deleteSecretInput{SecretId: name(), RecoveryWindowInDays: ptr(int64(7 + rng.IntN(24)))})
		case 3:
			s.deleteSecret(ctx, &deleteSecretInput{SecretId: name(), ForceDeleteWithoutRecovery: ptr(true)})
		case 4:
			s.restoreSecret(ctx, &secretIDInput{SecretId: name()})
		case 5:
			if tags := randTags(); tags != nil {
				s.tagResource(ctx, &tagResourceInput{SecretId: name(), Tags: tags})
			}
		case 6:
			s.untagResource(ctx, &untagResourceInput{SecretId: name(), TagKeys: []string{pick("env", "team", "dualkey:managed")}})
		case 7:
			s.putSecretValue(ctx, &putSecretValueInput{SecretId: name(), SecretString: ptr(fmt.Sprint("v", i))})
		case 8:
			s.getSecretValue(ctx, &getSecretValueInput{SecretId: name()})
		case 9:
			s.updateSecret(ctx, &updateSecretInput{SecretId: name(), Description: ptr(pick("Production DB", "api key", "other"))})
		case 10:
			s.rotateSecret(ctx, &rotateSecretInput{SecretId: name(), RotationLambdaARN: ptr("rotator"), RotateImmediately: ptr(rng.IntN(2) == 0)})
		case 11:
			s.cancelRotateSecret(ctx, &secretIDInput{SecretId: name()})
		case 12:
			id := name()
			s.mu.Lock()
			var cur string
			if sec := s.st.find(*id); sec != nil {
				if v := sec.holder(stageCurrent); v != nil {
					cur = v.ID
				}
			}
			s.mu.Unlock()
			if cur != "" {
				s.updateSecretVersionStage(ctx, &updateSecretVersionStageInput{SecretId: id, VersionStage: ptr("MINE"), MoveToVersionId: &cur})
			}
		case 13:
			clock.Advance(time.Duration(1+rng.IntN(10*24*60)) * time.Minute)
		}
		checkOrders(t, s)
		if listEvery > 0 && i%listEvery == 0 {
			checkListings(t, s, rng)
		}
	}
}

func newOrderServer(t *testing.T, clock *testutil.FakeClock, stateFile string) *Server {
	t.Helper()
	s, err := New(Config{Now: clock.Now, StateFile: stateFile, Invoker: InvokerFunc(func(context.Context, string, []byte) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestListSecretsOrdersMatchReference: after any sequence of operations,
// every ListSecrets listing walked page by page through the orders is the
// one the plain filter-and-sort gives, and a server loaded from the state
// file lists the same.
func TestListSecretsOrdersMatchReference(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			clock := testutil.NewFakeClock(time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC))
			state := filepath.Join(t.TempDir(), "state.json")
			s := newOrderServer(t, clock, state)
			rng := rand.New(rand.NewPCG(seed, 0))
			randomOps(t, s, clock, rng, 400, 20)
			checkListings(t, s, rng)

			if err := s.flush(); err != nil {
				t.Fatal(err)
			}
			loaded := newOrderServer(t, clock, state)
			checkOrders(t, loaded)
			for _, by := range []string{"created-date", "last-accessed-date", "last-changed-date", "name"} {
				for _, fs := range listFilterSets {
					got := pagedList(t, loaded, fs, by, "desc", true, 3)
					if want := pagedList(t, s, fs, by, "desc", true, 3); !slices.Equal(got, want) {
						t.Fatalf("loaded from the state file, sort %s: %v, want %v", by, got, want)
					}
				}
			}
		})
	}
}

// TestListSecretsOrdersManyChunks: with thousands of secrets the orders
// split into chunks, and changes and deletions in random order move,
// shrink and merge them (checkOrders checks the merging); the orders stay
// exact and listings right.
func TestListSecretsOrdersManyChunks(t *testing.T) {
	clock := testutil.NewFakeClock(time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC))
	s := newOrderServer(t, clock, "")
	rng := rand.New(rand.NewPCG(7, 0))
	ctx := context.Background()
	const n = 5 * chunkMax
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bulk/%05d", rng.IntN(1000000)*10+i%10) // creation order is not name order
		if _, aerr := s.createSecret(ctx, &createSecretInput{Name: &names[i], SecretString: ptr("v"), Tags: []tag{{Key: "dualkey:managed", Value: "true"}}}); aerr != nil {
			names[i] = ""
		}
		if i%7 == 0 {
			clock.Advance(time.Second)
		}
	}
	checkOrders(t, s)
	if got := len(s.st.orders[byCreated].chunks); got < 2 {
		t.Fatalf("%d secrets fit in %d chunk(s): the test does not exercise splitting", n, got)
	}
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for i, name := range names {
		if name == "" {
			continue
		}
		switch i % 4 {
		case 0:
			s.deleteSecret(ctx, &deleteSecretInput{SecretId: &name, ForceDeleteWithoutRecovery: ptr(true)})
		case 1:
			s.tagResource(ctx, &tagResourceInput{SecretId: &name, Tags: []tag{{Key: "seen", Value: fmt.Sprint(i)}}})
			clock.Advance(time.Millisecond)
		case 2:
			s.deleteSecret(ctx, &deleteSecretInput{SecretId: &name})
		}
		if i%500 == 0 {
			checkOrders(t, s)
		}
	}
	checkOrders(t, s)
	checkListings(t, s, rng)
	for _, name := range names[:len(names)*9/10] {
		if name != "" {
			s.deleteSecret(ctx, &deleteSecretInput{SecretId: &name, ForceDeleteWithoutRecovery: ptr(true)})
		}
	}
	checkOrders(t, s)
	checkListings(t, s, rng)
}
