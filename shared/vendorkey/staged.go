package vendorkey

import (
	"context"
	"errors"
	"fmt"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Incoming returns the DUALKEY_INCOMING version, where an operator stages
// a credential rolled in the vendor's dashboard (providers stripe,
// staged). When no version holds the label the error wraps nothing and
// says to roll (how) and then run command.
func Incoming(ctx context.Context, versions rotation.VersionReader, nothing error, roll, command string) (*rotation.Version, error) {
	v, err := versions.Stage(ctx, rotation.StageIncoming)
	if err != nil {
		if errors.Is(err, rotation.ErrNoVersion) {
			return nil, fmt.Errorf("%w: no version is labelled %s: %s, then run: %s", nothing, rotation.StageIncoming, roll, command)
		}
		return nil, fmt.Errorf("read the staged version (%s): %w", rotation.StageIncoming, err)
	}
	return v, nil
}

// CurrentOf returns the version of a rotation.StageChecker request: its
// Version, or AWSCURRENT when it names none.
func CurrentOf(ctx context.Context, req *rotation.CredentialRequest) (*rotation.Version, error) {
	if req.Version != nil {
		return req.Version, nil
	}
	v, err := req.Versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return nil, fmt.Errorf("read AWSCURRENT: %w", err)
	}
	return v, nil
}

// NotStaged is rotation.StageChecker's answer when finding the staged
// credential failed with err: not staged, with err's message as the
// detail, when err wraps nothing or is a *rotation.FieldError (what the
// operator must do); else err.
func NotStaged(err, nothing error) (bool, string, error) {
	var fe *rotation.FieldError
	if errors.Is(err, nothing) || errors.As(err, &fe) {
		return false, err.Error(), nil
	}
	return false, "", err
}
