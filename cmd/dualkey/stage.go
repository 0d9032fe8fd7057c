package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/providers/staged"
	"github.com/dualkey/dualkey/shared/providers/stripe"
	"github.com/dualkey/dualkey/shared/rotation"
)

// errStageRefused: dualkey stage found nothing to stage or a credential it
// must not stage (empty, the current one, of another kind). Exit code 3.
var errStageRefused = errors.New("not staged")

// stagedProviders adopt a credential an operator stages; what the CLI
// checks for each.
var stagedProviders = map[string]struct {
	// needsExpiry: the vendor expires the old credential at a time chosen
	// when rolling it, which dualkey must know.
	needsExpiry bool
}{
	stripe.Name: {needsExpiry: true},
	staged.Name: {},
}

// maxStdin bounds what stage reads from stdin.
const maxStdin = 64 << 10

var (
	stageFieldPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	// keyLike spots a credential pasted on the command line.
	keyLike = regexp.MustCompile(`^-*(sk|rk|pk)_(live|test)_|^-*whsec_`)
)

// stageHelp is the stage command's help text.
const stageHelp = "Stage a credential rolled in a vendor's dashboard (Stripe: Developers → API keys → Roll key…; Braintree:\n" +
	"gear icon → API → Generate New API Key) for SECRET's next rotation. The new credential is read from stdin, never\n" +
	"from the command line (where shell history and ps would keep it): one value for --field, or a JSON object\n" +
	"with several fields ({\"public_key\": \"...\", \"private_key\": \"...\"}). It is merged into the AWSCURRENT value and\n" +
	"stored as a new version labelled DUALKEY_INCOMING (the label moves from an earlier staged version); nothing\n" +
	"changes at the vendor or in AWSCURRENT. Say when the vendor switches the old credential off, as you chose when\n" +
	"rolling (required for Stripe): --old-key-expires-in 24h or --old-key-expires-at 2025-01-31T12:00:00Z.\n" +
	"Then run 'dualkey rotate SECRET': the rotation adopts the staged credential and proves it before promoting it.\n" +
	"Only fingerprints (the last four characters) are printed."

// runStage is the `dualkey stage` command.
func runStage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return stage(ctx, args, os.Stdin, stdout, stderr)
}

func stage(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	for _, a := range args {
		if keyLike.MatchString(a) {
			return usageError{errors.New("a key was given on the command line (not shown here): it is now in your shell history; " +
				"pass it on stdin instead (dualkey stage SECRET < new-key.txt), and consider rolling it again")}
		}
	}
	fs := newFlags("stage", stderr)
	var f awsFlags
	f.register(fs)
	field := fs.String("field", "api_key", "the secret's `FIELD` that holds the key (a JSON object on stdin names its fields instead)")
	in := fs.Duration("old-key-expires-in", -1, "the vendor switches the current credential off after `DURATION` (the expiry you chose when rolling, such as 24h; 0s: already)")
	at := fs.String("old-key-expires-at", "", "the vendor switches the current credential off at `TIME` (RFC 3339, such as 2025-01-31T12:00:00Z)")
	dry := fs.Bool("dry-run", false, "check and print what would be staged, changing nothing")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageError{errors.New("missing SECRET (the secret's name or ARN)")}
	case len(pos) > 1:
		return usageError{fmt.Errorf("takes one SECRET and reads the new credential from stdin; got %d arguments (not shown: one may be a credential, "+
			"now in your shell history)", len(pos))}
	}
	secret := pos[0]
	if !stageFieldPattern.MatchString(*field) {
		return usageError{errors.New("--field must be a field name such as api_key (letters, digits, _ . -)")}
	}
	expires, err := expiryFlags(*in, *at, time.Now())
	if err != nil {
		return err
	}

	fields, err := readCredential(stdin, stderr, *field)
	if err != nil {
		return err
	}
	sm, err := f.secretsManager(ctx)
	if err != nil {
		return err
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
	if err != nil {
		return f.hint(fmt.Errorf("describe %s: %w", secret, err), secret)
	}
	arn := aws.ToString(d.ARN)
	tags := map[string]string{}
	for _, t := range d.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	provider := tags[rotation.TagProvider]
	rules, ok := stagedProviders[provider]
	if !ok {
		names := make([]string, 0, len(stagedProviders))
		for n := range stagedProviders {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("%w: secret %s is tagged %s=%q; only the providers that adopt a staged credential (%s) read it; "+
			"for another provider run %s", errStageRefused, secret, rotation.TagProvider, provider, strings.Join(names, ", "), f.cmd("rotate", secret))
	}
	if rules.needsExpiry && expires == nil {
		return usageError{fmt.Errorf("say when Stripe expires the current key, as you chose in the Dashboard's Roll key dialog: " +
			"--old-key-expires-in 24h (168h for 7 days; 0s if you chose now) or --old-key-expires-at 2025-01-31T12:00:00Z")}
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(rotation.StageCurrent)})
	if err != nil {
		return f.hint(fmt.Errorf("read the AWSCURRENT value of %s: %w", secret, err), secret)
	}
	var value map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &value); err != nil {
		return fmt.Errorf("the AWSCURRENT value of %s is not a JSON object: store the credential as one first", secret)
	}
	var prev map[string]any
	if out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(rotation.StagePrevious)}); err == nil {
		_ = json.Unmarshal([]byte(aws.ToString(out.SecretString)), &prev)
	}

	names := make([]string, 0, len(fields))
	same, samePrev := true, prev != nil
	for name, v := range fields {
		names = append(names, name)
		if c, _ := value[name].(string); c != v {
			same = false
		}
		if p, _ := prev[name].(string); p != v {
			samePrev = false
		}
	}
	sort.Strings(names)
	switch {
	case same:
		return fmt.Errorf("%w: the credential on stdin is the current one (AWSCURRENT): roll it in the vendor's dashboard first, then stage the new one", errStageRefused)
	case samePrev:
		return fmt.Errorf("%w: the credential on stdin is the previous one (AWSPREVIOUS): stage the credential the dashboard showed when you rolled the current one", errStageRefused)
	}
	if provider == stripe.Name {
		if err := checkStripeKey(fields, value); err != nil {
			return err
		}
	}

	delete(value, stripe.FieldPreviousKeyExpiresAt)
	for name, v := range fields {
		value[name] = v
	}
	if expires != nil {
		value[stripe.FieldPreviousKeyExpiresAt] = expires.UTC().Format(time.RFC3339)
	}
	out, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("encode the staged value: %w", err)
	}

	fmt.Fprintf(stdout, "secret:   %s (%s=%s)\n", arn, rotation.TagProvider, provider)
	for _, name := range names {
		fmt.Fprintf(stdout, "staging:  %s %s (the current %s is %s)\n", name, fingerprintOf(fields[name]), name, fingerprintOf(stringField(cur.SecretString, name)))
	}
	if expires != nil {
		note := ""
		if !expires.After(time.Now()) {
			note = " (already: rotate now)"
		}
		fmt.Fprintf(stdout, "expiry:   the current credential is switched off at %s%s\n", expires.UTC().Format(time.RFC3339), note)
	}
	if old := rotation.Holder(d.VersionIdsToStages, rotation.StageIncoming); old != "" {
		fmt.Fprintf(stdout, "replaces: the credential staged in version %s (the label %s moves)\n", old, rotation.StageIncoming)
	}
	if *dry {
		fmt.Fprintln(stdout, "dry run: nothing was stored")
		return nil
	}
	put, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String(string(out)), VersionStages: []string{rotation.StageIncoming},
	})
	if err != nil {
		return f.hint(fmt.Errorf("store the staged version of %s: %w", secret, err), secret)
	}
	fmt.Fprintf(stdout, "staged:   version %s, labelled %s\n", aws.ToString(put.VersionId), rotation.StageIncoming)
	if pend := rotation.Holder(d.VersionIdsToStages, rotation.StagePending); pend != "" && !slices.Contains(d.VersionIdsToStages[pend], rotation.StageCurrent) {
		fmt.Fprintf(stdout, "a rotation is pending (version %s): Secrets Manager's retry adopts the staged credential; or cancel it and start afresh:\n  %s\n  %s\n",
			pend, f.cmd("cancel", secret), f.cmd("rotate", secret))
		return nil
	}
	fmt.Fprintf(stdout, "next:     %s\n", f.cmd("rotate", secret))
	return nil
}

// expiryFlags reads --old-key-expires-in and --old-key-expires-at (nil
// when neither is given).
func expiryFlags(in time.Duration, at string, now time.Time) (*time.Time, error) {
	switch {
	case in >= 0 && at != "":
		return nil, usageError{errors.New("give --old-key-expires-in or --old-key-expires-at, not both")}
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return nil, usageError{fmt.Errorf("--old-key-expires-at %q is not an RFC 3339 time such as 2025-01-31T12:00:00Z", at)}
		}
		return &t, nil
	case in > 366*24*time.Hour:
		return nil, usageError{fmt.Errorf("--old-key-expires-in %s is more than a year", in)}
	case in >= 0:
		t := now.Add(in).Truncate(time.Second)
		return &t, nil
	case in != -1:
		return nil, usageError{fmt.Errorf("--old-key-expires-in %s is negative", in)}
	}
	return nil, nil
}

// readCredential reads the new credential from stdin: one value for field,
// or a JSON object of string fields. Nothing read is ever echoed.
func readCredential(stdin io.Reader, stderr io.Writer, field string) (map[string]string, error) {
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(stderr, "paste the new credential on one line, then press Enter (your terminal shows what you paste; a file or a pipe does not: dualkey stage SECRET < new-key.txt):")
			line, err := bufio.NewReaderSize(f, maxStdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			stdin = strings.NewReader(line)
		}
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, maxStdin+1))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	if len(raw) > maxStdin {
		return nil, fmt.Errorf("%w: stdin holds more than %d bytes; a credential is shorter", errStageRefused, maxStdin)
	}
	text := strings.TrimSpace(string(raw))
	if text == "" {
		return nil, fmt.Errorf("%w: nothing on stdin: pipe the new credential in, such as: dualkey stage SECRET < new-key.txt", errStageRefused)
	}
	if strings.HasPrefix(text, "{") {
		var m map[string]any
		if err := json.Unmarshal([]byte(text), &m); err != nil || len(m) == 0 {
			return nil, fmt.Errorf("%w: stdin starts with { but is not a JSON object of credential fields", errStageRefused)
		}
		out := map[string]string{}
		for k, v := range m {
			s, ok := v.(string)
			switch {
			case !stageFieldPattern.MatchString(k) || k == stripe.FieldPreviousKeyExpiresAt || k == staged.FieldProbe:
				return nil, fmt.Errorf("%w: stdin's JSON object has a field that is not a credential field (not shown); use names such as public_key", errStageRefused)
			case !ok || strings.TrimSpace(s) == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s, "\r\n"):
				return nil, fmt.Errorf("%w: field %q on stdin is not a non-empty string without surrounding white space", errStageRefused, k)
			}
			out[k] = s
		}
		return out, nil
	}
	if strings.ContainsAny(text, " \t\r\n") {
		return nil, fmt.Errorf("%w: stdin holds more than one word; stage one credential, or a JSON object for a credential of several fields", errStageRefused)
	}
	return map[string]string{field: text}, nil
}

// checkStripeKey refuses a staged Stripe key that is no key or not of the
// current key's kind and mode.
func checkStripeKey(fields map[string]string, current map[string]any) error {
	key, ok := fields[stripe.FieldAPIKey]
	if !ok || len(fields) != 1 {
		return fmt.Errorf("%w: a Stripe secret holds its key in api_key: stage one key (with --field api_key, the default)", errStageRefused)
	}
	k, err := stripe.KindOf(key)
	if err != nil {
		return fmt.Errorf("%w: the value on stdin %v", errStageRefused, err)
	}
	c, _ := current[stripe.FieldAPIKey].(string)
	if ck, err := stripe.KindOf(c); err == nil && ck != k {
		return fmt.Errorf("%w: the key on stdin is a %s but the current key is a %s: stage the key the Dashboard showed when you rolled the current key",
			errStageRefused, k, ck)
	}
	return nil
}

// fingerprintOf shows a credential without revealing it.
func fingerprintOf(v string) string {
	if fp := stripe.Fingerprint(v); fp != "" {
		return fp
	}
	if fp := rotation.LastFour(v); fp != "" {
		return fp
	}
	if v == "" {
		return "(none)"
	}
	return "(too short to show)"
}

func stringField(value *string, name string) string {
	var m map[string]any
	if json.Unmarshal([]byte(aws.ToString(value)), &m) != nil {
		return ""
	}
	s, _ := m[name].(string)
	return s
}
