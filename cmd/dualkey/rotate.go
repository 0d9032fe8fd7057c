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
)

func runRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rotate", stderr)
	var f lifecycleFlags
	f.register(fs)
	a := &f.awsFlags
	lambdaARN := fs.String("lambda-arn", "", "rotation function ARN (default: the one already configured on the secret)")
	emergency := fs.Bool("emergency", false, "the current credential leaked: rotate now, no drain, deactivate the old credential as soon as the new one is promoted")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one SECRET (name or ARN)")
	}
	secret := fs.Arg(0)
	if *emergency {
		return emergencyRotate(ctx, &f, secret, *lambdaARN, stdout, stderr)
	}
	sm, err := a.secretsManager(ctx)
	if err != nil {
		return err
	}
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(secret)}
	if *lambdaARN != "" {
		in.RotationLambdaARN = aws.String(*lambdaARN)
	}
	out, err := sm.RotateSecret(ctx, in)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", secret, err)
	}
	fmt.Fprintf(stdout, "rotation of %s started: new version %s\n", aws.ToString(out.ARN), aws.ToString(out.VersionId))
	if a.endpoint == "" {
		fmt.Fprintf(stdout, "Secrets Manager runs the steps asynchronously; follow it with: dualkey status %s\n", secret)
		return nil
	}
	rec, err := emulatorRotation(ctx, a.endpoint, aws.ToString(out.VersionId))
	if err != nil || rec == nil {
		return nil // not our emulator: nothing more to show
	}
	if rec.Error != "" {
		return fmt.Errorf("rotation failed at %s: %s", rec.FailedStep, rec.Error)
	}
	fmt.Fprintf(stdout, "rotation finished: steps %s\n", strings.Join(rec.Steps, ", "))
	return nil
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
