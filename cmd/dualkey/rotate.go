package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

// errNeedsYes: the rotation may end a rollback window and --yes was not
// given.
var errNeedsYes = errors.New("confirmation needed")

// promotionWait bounds how long an emergency rotation waits for the new
// version to become AWSCURRENT.
const promotionWait = 5 * time.Minute

func runRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rotate", stderr)
	var f lifecycleFlags
	f.register(fs)
	lambdaARN := fs.String("lambda-arn", "", "rotation function `ARN` (default: the one already configured on the secret)")
	emergency := fs.Bool("emergency", false, "the current credential leaked: record it as leaked, rotate now, switch it off as soon as the new one is promoted")
	yes := fs.Bool("yes", false, "rotate even when the rotation may delete a deactivated credential and so end its rollback window")
	secret, lc, sm, err := f.parseSecret(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
	if err != nil {
		return f.hint(fmt.Errorf("describe %s: %w", secret, err), secret)
	}
	managed := false
	for _, t := range d.Tags {
		if aws.ToString(t.Key) == rotation.TagProvider {
			managed = true
		}
	}
	cur := rotation.Holder(d.VersionIdsToStages, rotation.StageCurrent)
	if pend := rotation.Holder(d.VersionIdsToStages, rotation.StagePending); pend != "" && pend != cur {
		return f.incomplete(secret, pend, managed, *emergency)
	}
	if managed {
		c, err := lc.CheckRotation(ctx, secret)
		if err != nil {
			return f.hint(err, secret)
		}
		if c.Ends != nil {
			fmt.Fprintf(stderr, "warning: %s\n", c.Ends.Reason)
			if !*yes && !*emergency {
				return fmt.Errorf("%w: this rotation may delete the deactivated credential %s and end its rollback window (see the warning above); "+
					"if that is fine, rotate with: %s", errNeedsYes, c.Ends.Fingerprint, f.cmd("rotate", "--yes", secret))
			}
		}
	}
	if *emergency {
		if !managed {
			return fmt.Errorf("secret %s: %w: an emergency rotation switches the leaked credential off, which needs the %s tag; set it, then run again: %s && %s",
				secret, lifecycle.ErrNotManaged, rotation.TagProvider,
				f.awsCmd("secretsmanager", "tag-resource", "--secret-id", secret, "--tags", "Key="+rotation.TagProvider+",Value=PROVIDER"), f.cmd("rotate", "--emergency", secret))
		}
		rep, err := lc.PrepareEmergency(ctx, secret)
		fmt.Fprint(stdout, rep.String())
		if err != nil {
			return err
		}
	}
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(secret)}
	if *lambdaARN != "" {
		in.RotationLambdaARN = aws.String(*lambdaARN)
	}
	out, err := sm.RotateSecret(ctx, in)
	if err != nil {
		if strings.Contains(err.Error(), "previous rotation isn't complete") {
			// Started by someone else between our look and our call.
			pend := "(see dualkey status)"
			if d, derr := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)}); derr == nil {
				pend = rotation.Holder(d.VersionIdsToStages, rotation.StagePending)
			}
			return f.incomplete(secret, pend, managed, *emergency)
		}
		return f.hint(fmt.Errorf("rotate %s: %w", secret, err), secret)
	}
	token := aws.ToString(out.VersionId)
	what := "rotation"
	if *emergency {
		what = "emergency rotation"
	}
	fmt.Fprintf(stdout, "%s of %s started: new version %s\n", what, aws.ToString(out.ARN), token)
	if f.endpoint != "" {
		if rec, err := emulatorRotation(ctx, f.endpoint, token); err == nil && rec != nil {
			if rec.Error != "" {
				return fmt.Errorf("rotation failed at %s: %s; AWSCURRENT is unchanged. Once the cause is fixed, cancel the pending version (its credential is discarded) and rotate again: %s && %s",
					rec.FailedStep, rec.Error, f.cmd("cancel", secret), f.cmd("rotate", flagIf(*emergency, "--emergency"), secret))
			}
			fmt.Fprintf(stdout, "rotation finished: steps %s\n", strings.Join(rec.Steps, ", "))
		}
	}
	if !*emergency {
		if f.endpoint == "" {
			fmt.Fprintf(stdout, "Secrets Manager runs the steps asynchronously; follow it with: %s\n", f.cmd("status", secret))
		}
		return nil
	}
	if err := waitPromotion(ctx, sm, secret, token); err != nil {
		return fmt.Errorf("%w; the leaked credential is still AWSCURRENT and active. See why with %s, then: %s && %s",
			err, f.cmd("status", secret), f.cmd("cancel", secret), f.cmd("rotate", "--emergency", secret))
	}
	rep, err := lc.Retire(ctx, secret, lifecycle.Options{Emergency: true})
	fmt.Fprint(stdout, rep.String())
	if err != nil {
		return fmt.Errorf("the new credential is AWSCURRENT, but switching the leaked one off failed: %w; retry with: %s", err, f.cmd("retire", secret))
	}
	return nil
}

func flagIf(on bool, flag string) string {
	if on {
		return flag
	}
	return ""
}

// incomplete explains a rotation that did not finish and names the way out.
func (f *lifecycleFlags) incomplete(secret, pend string, managed, emergency bool) error {
	again := f.cmd("rotate", secret)
	if emergency {
		again = f.cmd("rotate", "--emergency", secret)
	}
	way := fmt.Sprintf("once its cause is fixed, cancel it (the pending credential is discarded, no orphan is left) and rotate again: %s && %s", f.cmd("cancel", secret), again)
	if !managed {
		way = "remove the label, then rotate again: " + f.awsCmd("secretsmanager", "update-secret-version-stage", "--secret-id", secret,
			"--version-stage", rotation.StagePending, "--remove-from-version-id", pend) + " && " + again
	}
	return fmt.Errorf("%w: version %s of %s holds AWSPENDING from a rotation that did not finish, so Secrets Manager refuses a new one. "+
		"The rotation function's log line \"rotation step failed\" says why (%s shows the versions); %s",
		lifecycle.ErrRotationIncomplete, pend, secret, f.cmd("status", secret), way)
}

// waitPromotion waits until token is AWSCURRENT.
func waitPromotion(ctx context.Context, sm *secretsmanager.Client, secret, token string) error {
	deadline := time.Now().Add(promotionWait)
	for {
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
		if err != nil {
			return fmt.Errorf("describe %s: %w", secret, err)
		}
		if rotation.Holder(d.VersionIdsToStages, rotation.StageCurrent) == token {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the new version %s was not promoted within %s", token, promotionWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// emulatorRotation fetches the emulator's record of the rotation to token.
func emulatorRotation(ctx context.Context, endpoint, token string) (*awsemu.RotationRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/_dualkey/rotations", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var recs []awsemu.RotationRecord
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		return nil, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Token == token {
			return &recs[i], nil
		}
	}
	return nil, nil
}
