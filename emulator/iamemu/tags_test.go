package iamemu_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/dualkey/dualkey/emulator/iamemu"
)

func tags(kv ...string) []iamtypes.Tag {
	var out []iamtypes.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, iamtypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func tagMap(ts []iamtypes.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func wantTags(t *testing.T, e *emu, user string, want map[string]string) {
	t.Helper()
	out, err := e.admin().ListUserTags(t.Context(), &iam.ListUserTagsInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("ListUserTags: %v", err)
	}
	if got := tagMap(out.Tags); fmt.Sprint(got) != fmt.Sprint(want) || len(out.Tags) != len(want) {
		t.Fatalf("ListUserTags = %v, want %v", got, want)
	}
	u, err := e.admin().GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if got := tagMap(u.User.Tags); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GetUser Tags = %v, want %v", got, want)
	}
}

// TestUserTags: CreateUser with Tags, TagUser (merge, overwrite, keys
// compared without case but keeping their spelling), UntagUser, ListUserTags
// (sorted, paginated) and GetUser's Tags, through the SDK.
func TestUserTags(t *testing.T) {
	e := newEmu(t, nil)
	ctx := t.Context()
	admin := e.admin()
	created, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app"), Tags: tags("dualkey:managed", "true", "Team", "payments")})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(created.User.Tags); got["dualkey:managed"] != "true" || got["Team"] != "payments" {
		t.Fatalf("CreateUser returned tags %v", got)
	}
	wantTags(t, e, "app", map[string]string{"dualkey:managed": "true", "Team": "payments"})

	if _, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags("team", "identity", "Owner", "")}); err != nil {
		t.Fatal(err)
	}
	// "team" replaced Team's value and kept its spelling; an empty value is a value.
	wantTags(t, e, "app", map[string]string{"dualkey:managed": "true", "Team": "identity", "Owner": ""})

	if _, err := admin.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String("app"), TagKeys: []string{"OWNER", "absent"}}); err != nil {
		t.Fatal(err)
	}
	wantTags(t, e, "app", map[string]string{"dualkey:managed": "true", "Team": "identity"})

	// ListUsers does not return tags, as at AWS.
	lu, err := admin.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range lu.Users {
		if len(u.Tags) != 0 {
			t.Fatalf("ListUsers returned tags for %s", aws.ToString(u.UserName))
		}
	}
	// A user without tags has none in GetUser.
	e.createUser(t, "plain")
	if u, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("plain")}); err != nil || len(u.User.Tags) != 0 {
		t.Fatalf("GetUser plain: %v %v", u, err)
	}

	// Pagination: 50 tags, 7 per page, sorted by key.
	var many []string
	for i := 0; i < 48; i++ {
		many = append(many, fmt.Sprintf("k%02d", i), fmt.Sprint(i))
	}
	if _, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags(many...)}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var marker *string
	for pages := 0; ; pages++ {
		out, err := admin.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("app"), MaxItems: aws.Int32(7), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range out.Tags {
			keys = append(keys, aws.ToString(tg.Key))
		}
		if !out.IsTruncated {
			break
		}
		if pages > 10 || out.Marker == nil {
			t.Fatal("pagination does not end")
		}
		marker = out.Marker
	}
	if len(keys) != 50 || keys[0] != "Team" || keys[1] != "dualkey:managed" && keys[1] != "k00" {
		t.Fatalf("paginated keys (%d): %v", len(keys), keys)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Fatalf("keys not sorted: %v", keys)
		}
	}
}

// TestUserTagErrors: every refusal leaves the user's tags as they were.
func TestUserTagErrors(t *testing.T) {
	e := newEmu(t, nil)
	ctx := t.Context()
	admin := e.admin()
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app"), Tags: tags("dualkey:managed", "true")}); err != nil {
		t.Fatal(err)
	}
	var fifty []string
	for i := 0; i < 49; i++ {
		fifty = append(fifty, fmt.Sprintf("k%02d", i), "v")
	}
	if _, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags(fifty...)}); err != nil {
		t.Fatalf("tagging up to 50: %v", err)
	}
	var fiftyOne []string
	for i := 0; i < 51; i++ {
		fiftyOne = append(fiftyOne, fmt.Sprintf("n%02d", i), "v")
	}
	cases := []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"51st tag", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags("one-more", "v")})
			return err
		}, "LimitExceeded", "TagsPerUser: 50"},
		{"51 tags in one request", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags(fiftyOne...)})
			return err
		}, "ValidationError", "less than or equal to 50"},
		{"no such user", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("ghost"), Tags: tags("a", "b")})
			return err
		}, "NoSuchEntity", "ghost"},
		{"reserved key prefix", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags("aws:owner", "x")})
			return err
		}, "InvalidInput", "aws:"},
		{"reserved value prefix", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags("k00", "aws:x")})
			return err
		}, "InvalidInput", "aws:"},
		{"duplicate keys differing in case", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags("k00", "a", "K00", "b")})
			return err
		}, "InvalidInput", "Duplicate tag keys found"},
		{"key too long", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags(strings.Repeat("k", 129), "v")})
			return err
		}, "ValidationError", "length less than or equal to 128"},
		{"value too long", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags("k00", strings.Repeat("v", 257))})
			return err
		}, "ValidationError", "length less than or equal to 256"},
		{"bad character", func() error {
			_, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags("k00", "semi;colon")})
			return err
		}, "ValidationError", "regular expression pattern"},
		{"create with a bad tag creates nothing", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("new"), Tags: tags("aws:x", "y")})
			if _, gerr := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("new")}); gerr == nil {
				return fmt.Errorf("user created despite a bad tag")
			}
			return err
		}, "InvalidInput", "aws:"},
		{"untag no such user", func() error {
			_, err := admin.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String("ghost"), TagKeys: []string{"a"}})
			return err
		}, "NoSuchEntity", "ghost"},
		{"list no such user", func() error {
			_, err := admin.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("ghost")})
			return err
		}, "NoSuchEntity", "ghost"},
		{"list bad marker", func() error {
			_, err := admin.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("app"), Marker: aws.String("nonsense")})
			return err
		}, "ValidationError", "Marker"},
	}
	before := tagMap(mustList(t, e, "app"))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			code, msg := apiError(t, err)
			if code != c.code || !strings.Contains(msg, c.msg) {
				t.Fatalf("got %s %q, want %s containing %q", code, msg, c.code, c.msg)
			}
			if after := tagMap(mustList(t, e, "app")); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatal("a refused request changed the tags")
			}
		})
	}
	// Overwriting a value at the limit is not adding a tag.
	if _, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("app"), Tags: tags("K00", "new")}); err != nil {
		t.Fatalf("overwrite at the limit: %v", err)
	}
}

func mustList(t *testing.T, e *emu, user string) []iamtypes.Tag {
	t.Helper()
	var all []iamtypes.Tag
	var marker *string
	for {
		out, err := e.admin().ListUserTags(t.Context(), &iam.ListUserTagsInput{UserName: aws.String(user), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.Tags...)
		if !out.IsTruncated {
			return all
		}
		marker = out.Marker
	}
}

// TestUserTagsWireFormat: the XML of ListUserTags and the missing-parameter
// errors are AWS's.
func TestUserTagsWireFormat(t *testing.T) {
	e := newEmu(t, nil)
	e.createUser(t, "app")
	status, body := rawCall(t, e.url, bootID, bootSecret, "iam", url.Values{"Action": {"TagUser"}, "Version": {"2010-05-08"}, "UserName": {"app"},
		"Tags.member.1.Key": {"dualkey:managed"}, "Tags.member.1.Value": {"true"}})
	if status != http.StatusOK || !strings.Contains(body, "<TagUserResponse") {
		t.Fatalf("TagUser: %d %s", status, body)
	}
	status, body = rawCall(t, e.url, bootID, bootSecret, "iam", url.Values{"Action": {"ListUserTags"}, "Version": {"2010-05-08"}, "UserName": {"app"}})
	if status != http.StatusOK || !strings.Contains(body, "<ListUserTagsResult><Tags><member><Key>dualkey:managed</Key><Value>true</Value></member></Tags><IsTruncated>false</IsTruncated></ListUserTagsResult>") {
		t.Fatalf("ListUserTags: %d %s", status, body)
	}
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"Action": {"TagUser"}, "UserName": {"app"}}, "Value null at 'tags'"},
		{url.Values{"Action": {"TagUser"}, "UserName": {"app"}, "Tags.member.1.Key": {"k"}}, "Value null at 'tags.1.member.value'"},
		{url.Values{"Action": {"UntagUser"}, "UserName": {"app"}}, "Value null at 'tagKeys'"},
		{url.Values{"Action": {"ListUserTags"}}, "Value null at 'userName'"},
	} {
		c.form.Set("Version", "2010-05-08")
		status, body := rawCall(t, e.url, bootID, bootSecret, "iam", c.form)
		body = html.UnescapeString(body)
		if status != http.StatusBadRequest || !strings.Contains(body, "<Code>ValidationError</Code>") || !strings.Contains(body, c.want) {
			t.Errorf("%v: %d %s", c.form, status, body)
		}
	}
}

// TestUserTagsSurviveRestore: tags are part of the persisted state, and a
// state with invalid tags is refused.
func TestUserTagsSurviveRestore(t *testing.T) {
	e := newEmu(t, nil)
	if _, err := e.admin().CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String("app"), Tags: tags("dualkey:managed", "true")}); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(e.svc.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var st iamemu.State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	e2 := newEmu(t, nil)
	if err := e2.svc.Restore(st); err != nil {
		t.Fatal(err)
	}
	wantTags(t, e2, "app", map[string]string{"dualkey:managed": "true"})
	for i := range st.Users {
		if st.Users[i].UserName == "app" {
			st.Users[i].Tags = append(st.Users[i].Tags, iamemu.Tag{Key: "DUALKEY:MANAGED", Value: "false"})
		}
	}
	if err := e2.svc.Restore(st); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("Restore with duplicate tag keys: %v", err)
	}
	wantTags(t, e2, "app", map[string]string{"dualkey:managed": "true"})
}
