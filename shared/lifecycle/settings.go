package lifecycle

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/usagelogs"
)

// Tags dualkey reads on a managed secret. Settings override the function's
// defaults; state tags are written by dualkey and visible in DescribeSecret.
const (
	TagManaged        = rotation.TagManaged         // "true": the retire function manages this secret
	TagProvider       = rotation.TagProvider        // provider name, e.g. "iamkey", "servicekey"
	TagDrain          = "dualkey:drain"             // drain window after promotion (Go duration, e.g. "1h")
	TagQuiet          = "dualkey:quiet"             // the old credential must be unused for this long (default: the drain)
	TagGrace          = "dualkey:grace"             // time between deactivation and deletion (e.g. "48h")
	TagConfirm        = "dualkey:confirm"           // delete-only providers: time between the usage check and the delete (e.g. "24h")
	TagRollbackWindow = "dualkey:rollback-window"   // rollback allowed this long after promotion (e.g. "15m")
	TagWindow         = "dualkey:deactivate-window" // when deactivation is allowed, e.g. "Mon-Fri 09:00-17:00 UTC"
	TagAlarm          = "dualkey:alarm"             // CloudWatch alarm name that triggers rollback
	TagRestoreCurrent = "dualkey:rollback-restore"  // "true": rollback also moves AWSCURRENT back
	TagEmergency      = rotation.TagEmergency       // "true": no drain; switch the old credential off at once
	TagStageLead      = "dualkey:stage-lead"        // staged providers: alert this long before the rotation is due while nothing is staged (e.g. "168h")

	TagState         = rotation.TagState         // draining | in-use | waiting-window | confirming | deactivated | deleting | deleted | waiting-expiry | expired | replaced | held
	TagStateVersion  = rotation.TagStateVersion  // the version the state is about
	TagStateSince    = rotation.TagStateSince    // RFC 3339 time the state was entered
	TagStateNote     = rotation.TagStateNote     // why, in words (no secrets)
	TagDeactivatedAt = rotation.TagDeactivatedAt // RFC 3339 time the DUALKEY_DEACTIVATED version was deactivated
	TagStateLeaked   = rotation.TagStateLeaked   // versions an emergency switched off because they leaked (space-separated)
)

// States written to TagState.
const (
	StateDraining      = "draining"
	StateInUse         = "in-use"
	StateWaitingWindow = "waiting-window"
	StateConfirming    = "confirming" // delete-only: drained and unused, waiting the confirmation period
	StateDeactivated   = "deactivated"
	StateDeleting      = "deleting" // delete-only: the delete started (a crash resumes it)
	StateDeleted       = "deleted"
	StateWaitingExpiry = "waiting-expiry" // external: waiting for the vendor to switch it off
	StateExpired       = "expired"        // external: the vendor switched it off
	StateReplaced      = "replaced"       // none: setSecret replaced the credential in place; nothing to switch off
	StateHeld          = "held"
)

// Settings are the lifecycle timings of one secret.
type Settings struct {
	Drain          time.Duration
	Quiet          time.Duration // 0: same as Drain
	Grace          time.Duration
	Confirm        time.Duration // delete-only providers: wait after the usage check before the delete
	RollbackWindow time.Duration
	Window         *Window // nil: any time
	RestoreCurrent bool
	// UsageLogs lists the log groups of tag dualkey:usage-logs,
	// comma-separated ("": none). Only a tag sets it.
	UsageLogs string
	// StageLead: for providers whose new credential an operator stages
	// (rotation.StageChecker), the retire run alerts (KeyNotStaged) from
	// this long before NextRotationDate while nothing new is staged; 0
	// alerts from the due date on.
	StageLead time.Duration
}

// DefaultSettings are dualkey's defaults.
var DefaultSettings = Settings{Drain: time.Hour, Grace: 48 * time.Hour, Confirm: 24 * time.Hour, RollbackWindow: 15 * time.Minute, StageLead: 7 * 24 * time.Hour}

// SettingsFromEnv reads DUALKEY_DRAIN, DUALKEY_QUIET, DUALKEY_GRACE,
// DUALKEY_CONFIRM, DUALKEY_ROLLBACK_WINDOW, DUALKEY_STAGE_LEAD,
// DUALKEY_DEACTIVATE_WINDOW and DUALKEY_ROLLBACK_RESTORE over
// DefaultSettings.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := DefaultSettings
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{"DUALKEY_DRAIN", &s.Drain}, {"DUALKEY_QUIET", &s.Quiet}, {"DUALKEY_GRACE", &s.Grace}, {"DUALKEY_CONFIRM", &s.Confirm}, {"DUALKEY_ROLLBACK_WINDOW", &s.RollbackWindow},
		{"DUALKEY_STAGE_LEAD", &s.StageLead}} {
		if v := getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < 0 {
				return s, fmt.Errorf("environment variable %s=%q: want a duration such as 1h or 30m", d.env, v)
			}
			*d.dst = x
		}
	}
	if v := getenv("DUALKEY_DEACTIVATE_WINDOW"); v != "" {
		w, err := ParseWindow(v)
		if err != nil {
			return s, fmt.Errorf("environment variable DUALKEY_DEACTIVATE_WINDOW: %w", err)
		}
		s.Window = w
	}
	if v := getenv("DUALKEY_ROLLBACK_RESTORE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("environment variable DUALKEY_ROLLBACK_RESTORE=%q: want true or false", v)
		}
		s.RestoreCurrent = b
	}
	return s, nil
}

// withTags returns s overridden by the secret's tags. Errors name the tag and
// the fix.
func (s Settings) withTags(tags map[string]string) (Settings, error) {
	for _, d := range []struct {
		tag string
		dst *time.Duration
	}{{TagDrain, &s.Drain}, {TagQuiet, &s.Quiet}, {TagGrace, &s.Grace}, {TagConfirm, &s.Confirm}, {TagRollbackWindow, &s.RollbackWindow}, {TagStageLead, &s.StageLead}} {
		if v, ok := tags[d.tag]; ok {
			x, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || x < 0 {
				return s, fmt.Errorf("tag %s=%q: want a duration such as 1h, 30m or 48h", d.tag, v)
			}
			*d.dst = x
		}
	}
	if v, ok := tags[TagWindow]; ok {
		w, err := ParseWindow(v)
		if err != nil {
			return s, fmt.Errorf("tag %s: %w", TagWindow, err)
		}
		s.Window = w
	}
	if v, ok := tags[TagRestoreCurrent]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("tag %s=%q: want true or false", TagRestoreCurrent, v)
		}
		s.RestoreCurrent = b
	}
	if v, ok := tags[usagelogs.Tag]; ok {
		groups, err := usagelogs.ParseGroups(v)
		if err != nil {
			return s, err
		}
		s.UsageLogs = strings.Join(groups, ",")
	}
	if s.Quiet == 0 {
		s.Quiet = s.Drain
	}
	return s, nil
}

// maxTagValue is the longest tag value Secrets Manager's TagResource
// documentation promises to accept (its API reference says 256).
const maxTagValue = 255

// tagValue makes free text safe for a tag value (AWS allows letters,
// digits, spaces and _ . : / = + - @, up to 255 characters).
func tagValue(s string) string {
	b := []rune{}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune(" _.:/=+-@", c):
			b = append(b, c)
		default:
			b = append(b, ' ')
		}
	}
	out := strings.Join(strings.Fields(string(b)), " ")
	if len(out) > maxTagValue {
		out = out[:maxTagValue]
	}
	return out
}

// human renders a duration without trailing zero units: 1h, 1h30m, 48h, 30s.
func human(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
