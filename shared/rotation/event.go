package rotation

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/aws/aws-lambda-go/events"
)

// ValidateEvent checks a rotation event and names the first bad field.
func ValidateEvent(ev events.SecretsManagerSecretRotationEvent) error {
	bad := func(field, issue, fix string) error {
		return &FieldError{Field: field, Issue: issue, Fix: fix, Kind: ErrInvalidEvent}
	}
	switch ev.Step {
	case StepCreate, StepSet, StepTest, StepFinish:
	case "":
		return bad("Step", "is empty", "expected one of createSecret, setSecret, testSecret, finishSecret")
	default:
		return bad("Step", fmt.Sprintf("has unknown value %q", printable(ev.Step)), "expected one of createSecret, setSecret, testSecret, finishSecret")
	}
	if ev.SecretID == "" {
		return bad("SecretId", "is empty", "pass the secret's ARN")
	}
	if len(ev.SecretID) > 2048 || !cleanToken(ev.SecretID) {
		return bad("SecretId", "has non-printable characters or is longer than 2048", "pass the secret's ARN")
	}
	if ev.ClientRequestToken == "" {
		return bad("ClientRequestToken", "is empty", "pass the version id of the pending version")
	}
	if len(ev.ClientRequestToken) < 32 || len(ev.ClientRequestToken) > 64 || !cleanToken(ev.ClientRequestToken) {
		return bad("ClientRequestToken", "must be 32 to 64 printable characters", "pass the version id of the pending version")
	}
	if ev.RotationToken != "" && (len(ev.RotationToken) > 4096 || !cleanToken(ev.RotationToken)) {
		return bad("RotationToken", "has non-printable characters", "pass the RotationToken Secrets Manager sent unchanged")
	}
	return nil
}

func cleanToken(s string) bool {
	for _, c := range s {
		if !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return false
		}
	}
	return true
}

// printable makes an untrusted event field safe to log.
func printable(s string) string {
	if len(s) > 256 {
		s = s[:256] + "..."
	}
	if cleanToken(s) {
		return s
	}
	return strings.Trim(fmt.Sprintf("%q", s), `"`)
}

func isJSONObject(s string) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &m) == nil
}

// holder returns the version id that holds stage, or "".
func holder(stages map[string][]string, stage string) string {
	for id, st := range stages {
		if slices.Contains(st, stage) {
			return id
		}
	}
	return ""
}
