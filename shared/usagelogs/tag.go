package usagelogs

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Tag names the log groups whose events show which credential consumers
// use: "dualkey:usage-logs=/app/api,/app/worker". Groups are separated by
// commas or spaces (both are accepted; some tagging tools refuse commas in
// tag values). A log group of another account (CloudWatch cross-account
// observability) is given by its ARN.
const Tag = "dualkey:usage-logs"

// MaxGroups bounds the groups one secret may name: each costs at least two
// FilterLogEvents calls per retire run.
const MaxGroups = 10

var (
	// groupNamePattern is CloudWatch Logs' rule for log group names.
	groupNamePattern = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	// groupARNPattern is a log group ARN, with or without the trailing ":*".
	groupARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:logs:[a-z0-9-]+:[0-9]{12}:log-group:([.\-_/#A-Za-z0-9]{1,512})(:\*)?$`)
)

const tagExample = "/app/api,/app/worker"

// ParseGroups reads the value of Tag: one or more log group names or ARNs,
// separated by commas or spaces. Repeated groups count once. Errors name
// the tag, the offending group and an example of a valid value; nothing
// in them comes from the value beyond the (quoted, shortened) group.
func ParseGroups(value string) ([]string, error) {
	items := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(items) == 0 {
		return nil, fmt.Errorf("tag %s is empty: want one or more CloudWatch Logs log group names separated by commas, e.g. %s", Tag, tagExample)
	}
	var groups []string
	for _, g := range items {
		if err := checkGroup(g); err != nil {
			return nil, fmt.Errorf("tag %s: %w; want log group names separated by commas, e.g. %s", Tag, err, tagExample)
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	if len(groups) > MaxGroups {
		return nil, fmt.Errorf("tag %s names %d log groups; at most %d are searched per secret: list the groups of the consumers that hold this credential", Tag, len(groups), MaxGroups)
	}
	return groups, nil
}

func checkGroup(g string) error {
	if strings.HasPrefix(g, "arn:") {
		if !groupARNPattern.MatchString(g) {
			return fmt.Errorf("%s is not a log group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME)", quote(g))
		}
		return nil
	}
	if !groupNamePattern.MatchString(g) {
		if len(g) > 512 {
			return fmt.Errorf("log group name %s is longer than 512 characters", quote(g))
		}
		return fmt.Errorf("%s is not a log group name (letters, digits and . - _ / # only)", quote(g))
	}
	return nil
}

// quote shortens s to 64 characters and quotes it, for messages.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
