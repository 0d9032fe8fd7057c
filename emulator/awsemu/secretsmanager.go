package awsemu

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/dualkey/dualkey/emulator/awsauth"
	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// opFunc runs one Secrets Manager operation on a raw JSON request body.
type opFunc func(s *Server, ctx context.Context, body []byte) (any, *awsjson.Error)

// op adapts a typed handler to opFunc, decoding the JSON input.
func op[I any](fn func(*Server, context.Context, *I) (any, *awsjson.Error)) opFunc {
	return func(s *Server, ctx context.Context, body []byte) (any, *awsjson.Error) {
		in, aerr := awsjson.Decode[I](body)
		if aerr != nil {
			return nil, aerr
		}
		return fn(s, ctx, in)
	}
}

var operations = map[string]opFunc{
	"CreateSecret":             op((*Server).createSecret),
	"DescribeSecret":           op((*Server).describeSecret),
	"GetSecretValue":           op((*Server).getSecretValue),
	"PutSecretValue":           op((*Server).putSecretValue),
	"UpdateSecretVersionStage": op((*Server).updateSecretVersionStage),
	"ListSecretVersionIds":     op((*Server).listSecretVersionIDs),
	"ListSecrets":              op((*Server).listSecrets),
	"TagResource":              op((*Server).tagResource),
	"UntagResource":            op((*Server).untagResource),
	"UpdateSecret":             op((*Server).updateSecret),
	"DeleteSecret":             op((*Server).deleteSecret),
	"RestoreSecret":            op((*Server).restoreSecret),
	"GetRandomPassword":        op((*Server).getRandomPassword),
	"RotateSecret":             op((*Server).rotateSecret),
	"CancelRotateSecret":       op((*Server).cancelRotateSecret),
}

func (s *Server) serveSecretsManager(w http.ResponseWriter, r *http.Request, body []byte, p awsauth.Principal) {
	name, fn, aerr := awsjson.Lookup(protocol, r, operations)
	if aerr != nil {
		awsjson.WriteError(w, aerr)
		return
	}
	s.stats.Count(name)
	s.recordCall(p, name)
	mark := &commitMark{}
	out, aerr := fn(s, context.WithValue(r.Context(), commitKey{}, mark), body)
	if mark.committed {
		// The change is in memory; it is answered as done only once it is in
		// the state file, written outside the lock so readers are not held up.
		if err := s.flush(); err != nil && aerr == nil {
			aerr = errSaveState(err)
		}
	}
	if aerr != nil {
		awsjson.WriteError(w, aerr)
		return
	}
	protocol.WriteJSON(w, out)
}

// ---- shared helpers (callers hold s.mu) ----

// lockedSecret locks the server, purges expired deletions and resolves id.
// On success the caller must unlock. allowDeleted lets a secret that is
// scheduled for deletion through.
func (s *Server) lockedSecret(id *string, allowDeleted bool) (*secret, *awsjson.Error) {
	if id == nil {
		return nil, protocol.Null("secretId")
	}
	if aerr := protocol.CheckLen("secretId", id, 1, 2048); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	s.purgeExpiredLocked()
	sec := s.st.find(*id)
	if sec == nil {
		s.mu.Unlock()
		return nil, errSecretNotFound()
	}
	if sec.deleted() && !allowDeleted {
		s.mu.Unlock()
		return nil, errMarkedForDeletion()
	}
	return sec, nil
}

// purgeExpiredLocked removes the secrets whose recovery window has ended.
// It pops them from the deletion-deadline index, so a request pays nothing
// for the secrets that are not due, however many there are.
func (s *Server) purgeExpiredLocked() {
	now := s.now()
	for {
		due, ok := s.deadlines.popDue(now)
		if !ok {
			return
		}
		sec := s.st.Secrets[due.arn]
		// A restored secret, or one deleted again with a new window, left a
		// stale entry behind: only the entry matching its deadline counts.
		if sec == nil || sec.DeletionDate == nil || !sec.DeletionDate.Equal(due.when) {
			continue
		}
		s.st.remove(sec)
		s.markDirtyLocked(sec.ARN)
	}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9/_+=.@-]+$`)

// validateValue checks SecretString/SecretBinary: at most one, within quota.
func validateValue(str *string, bin []byte) *awsjson.Error {
	if str != nil && bin != nil {
		return awsjson.Errorf(codeInvalidParameter, msgBothValues)
	}
	if str != nil && len(*str) > 65536 {
		return awsjson.Errorf(codeValidation, "1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to 65536")
	}
	if len(bin) > 65536 {
		return awsjson.Errorf(codeValidation, "1 validation error detected: Value at 'secretBinary' failed to satisfy constraint: Member must have length less than or equal to 65536")
	}
	return nil
}

func validateTags(tags []tag) *awsjson.Error {
	if len(tags) > 50 {
		return awsjson.Errorf(codeValidation, "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if aerr := protocol.CheckLen("tags.member.key", &t.Key, 1, 128); aerr != nil {
			return aerr
		}
		if aerr := protocol.CheckLen("tags.member.value", &t.Value, 0, 256); aerr != nil {
			return aerr
		}
		if seen[t.Key] {
			return awsjson.Errorf(codeInvalidParameter, "You can't add duplicate tag keys: %s.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func validateToken(tok *string) *awsjson.Error {
	return protocol.CheckLen("clientRequestToken", tok, 32, 64)
}

func validateStages(stages []string) *awsjson.Error {
	if stages == nil {
		return nil
	}
	if len(stages) < 1 || len(stages) > 20 {
		return awsjson.Errorf(codeValidation, "1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length between 1 and 20")
	}
	for _, st := range stages {
		if aerr := protocol.CheckLen("versionStages.member", &st, 1, 256); aerr != nil {
			return aerr
		}
	}
	return nil
}

func errLimit() *awsjson.Error {
	return awsjson.Errorf(codeLimitExceeded, "The request failed because it would exceed one of the Secrets Manager quotas.")
}

// newVersionLocked adds a version with a value to sec.
func (s *Server) newVersionLocked(sec *secret, id string, str *string, bin []byte) *version {
	v := &version{ID: id, String: str, Binary: bin, Created: s.now(), Seq: s.st.nextSeq()}
	sec.Versions[id] = v
	return v
}

// ---- CreateSecret ----

type createSecretInput struct {
	Name                        *string
	ClientRequestToken          *string
	Description                 *string
	KmsKeyId                    *string
	SecretString                *string
	SecretBinary                []byte
	Tags                        []tag
	AddReplicaRegions           []json.RawMessage
	ForceOverwriteReplicaSecret bool
	Type                        *string
}

type arnNameVersion struct {
	ARN       string  `json:"ARN"`
	Name      string  `json:"Name"`
	VersionId *string `json:"VersionId,omitempty"`
}

func (s *Server) createSecret(ctx context.Context, in *createSecretInput) (any, *awsjson.Error) {
	if in.Name == nil {
		return nil, protocol.Null("name")
	}
	if aerr := protocol.CheckLen("name", in.Name, 1, 512); aerr != nil {
		return nil, aerr
	}
	if !nameRE.MatchString(*in.Name) {
		return nil, awsjson.Errorf(codeInvalidParameter, "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	for _, a := range []*awsjson.Error{
		validateToken(in.ClientRequestToken),
		protocol.CheckLen("description", in.Description, 0, 2048),
		protocol.CheckLen("kmsKeyId", in.KmsKeyId, 0, 2048),
		validateValue(in.SecretString, in.SecretBinary),
		validateTags(in.Tags),
	} {
		if a != nil {
			return nil, a
		}
	}
	if len(in.AddReplicaRegions) > 0 {
		return nil, awsjson.Errorf(codeInvalidRequest, "The dualkey emulator does not support replica regions.")
	}
	token := awsjson.UUID()
	if in.ClientRequestToken != nil {
		token = *in.ClientRequestToken
	}
	hasValue := in.SecretString != nil || in.SecretBinary != nil

	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpiredLocked()
	if ex := s.st.byName(*in.Name); ex != nil {
		if ex.deleted() {
			return nil, awsjson.Errorf(codeInvalidRequest, "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A retried CreateSecret (same token, same value) succeeds without change.
		if v := ex.Versions[token]; v != nil && hasValue && v.sameValue(in.SecretString, in.SecretBinary) {
			return arnNameVersion{ARN: ex.ARN, Name: ex.Name, VersionId: ptr(v.ID)}, nil
		}
		return nil, awsjson.Errorf(codeResourceExists, "The operation failed because the secret %s already exists.", *in.Name)
	}
	now := s.now()
	arn := "arn:aws:secretsmanager:" + s.cfg.Region + ":" + s.cfg.AccountID + ":secret:" + *in.Name + "-" + randomFrom(arnSuffixAlphabet, 6)
	sec := &secret{
		ARN:         arn,
		Name:        *in.Name,
		Description: in.Description,
		KmsKeyID:    in.KmsKeyId,
		Created:     now,
		LastChanged: now,
		Tags:        slices.Clone(in.Tags),
		Versions:    map[string]*version{},
		Seq:         s.st.nextSeq(),
	}
	out := arnNameVersion{ARN: arn, Name: sec.Name}
	if hasValue {
		v := s.newVersionLocked(sec, token, in.SecretString, in.SecretBinary)
		sec.moveStage(stageCurrent, v)
		out.VersionId = ptr(v.ID)
	}
	s.st.add(sec)
	s.commitLocked(ctx, sec.ARN)
	return out, nil
}

// ---- DescribeSecret ----

type secretIDInput struct {
	SecretId *string
}

// secretMeta is what DescribeSecret and ListSecrets both return about a secret.
type secretMeta struct {
	ARN               string         `json:"ARN"`
	Name              string         `json:"Name"`
	Description       *string        `json:"Description,omitempty"`
	KmsKeyId          *string        `json:"KmsKeyId,omitempty"`
	RotationEnabled   *bool          `json:"RotationEnabled,omitempty"`
	RotationLambdaARN *string        `json:"RotationLambdaARN,omitempty"`
	RotationRules     *rotationRules `json:"RotationRules,omitempty"`
	LastRotatedDate   *epochTime     `json:"LastRotatedDate,omitempty"`
	LastChangedDate   *epochTime     `json:"LastChangedDate,omitempty"`
	LastAccessedDate  *epochTime     `json:"LastAccessedDate,omitempty"`
	NextRotationDate  *epochTime     `json:"NextRotationDate,omitempty"`
	DeletedDate       *epochTime     `json:"DeletedDate,omitempty"`
	Tags              []tag          `json:"Tags,omitempty"`
	CreatedDate       *epochTime     `json:"CreatedDate,omitempty"`
	PrimaryRegion     string         `json:"PrimaryRegion,omitempty"`
}

type describeSecretOutput struct {
	secretMeta
	VersionIdsToStages map[string][]string `json:"VersionIdsToStages,omitempty"`
}

func (s *Server) describe(sec *secret) describeSecretOutput {
	out := describeSecretOutput{secretMeta: secretMeta{
		ARN:              sec.ARN,
		Name:             sec.Name,
		Description:      sec.Description,
		KmsKeyId:         sec.KmsKeyID,
		RotationEnabled:  sec.RotationEnabled,
		RotationRules:    sec.RotationRules,
		LastRotatedDate:  tsp(sec.LastRotated),
		LastChangedDate:  ts(sec.LastChanged),
		LastAccessedDate: tsp(sec.LastAccessed),
		DeletedDate:      tsp(sec.DeletedDate),
		Tags:             slices.Clone(sec.Tags),
		CreatedDate:      ts(sec.Created),
		PrimaryRegion:    s.cfg.Region,
	}, VersionIdsToStages: sec.versionsToStages()}
	if sec.RotationLambdaARN != "" {
		out.RotationLambdaARN = ptr(sec.RotationLambdaARN)
	}
	if sec.RotationEnabled != nil && *sec.RotationEnabled {
		out.NextRotationDate = tsp(sec.NextRotation)
	}
	return out
}

func (s *Server) describeSecret(ctx context.Context, in *secretIDInput) (any, *awsjson.Error) {
	sec, aerr := s.lockedSecret(in.SecretId, true)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	return s.describe(sec), nil
}

// ---- GetSecretValue ----

type getSecretValueInput struct {
	SecretId     *string
	VersionId    *string
	VersionStage *string
}

type getSecretValueOutput struct {
	ARN           string     `json:"ARN"`
	Name          string     `json:"Name"`
	VersionId     string     `json:"VersionId"`
	SecretString  *string    `json:"SecretString,omitempty"`
	SecretBinary  []byte     `json:"SecretBinary,omitempty"`
	VersionStages []string   `json:"VersionStages"`
	CreatedDate   *epochTime `json:"CreatedDate"`
}

func (s *Server) getSecretValue(ctx context.Context, in *getSecretValueInput) (any, *awsjson.Error) {
	if aerr := protocol.CheckLen("versionId", in.VersionId, 32, 64); aerr != nil {
		return nil, aerr
	}
	if aerr := protocol.CheckLen("versionStage", in.VersionStage, 1, 256); aerr != nil {
		return nil, aerr
	}
	sec, aerr := s.lockedSecret(in.SecretId, false)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	var v *version
	switch {
	case in.VersionId != nil:
		v = sec.Versions[*in.VersionId]
		if v == nil || !v.hasValue() {
			return nil, errVersionIDNotFound(*in.VersionId)
		}
		if in.VersionStage != nil && !v.hasStage(*in.VersionStage) {
			return nil, awsjson.Errorf(codeInvalidRequest, "You provided a VersionStage that is not associated to the provided VersionId.")
		}
	default:
		stage := stageCurrent
		if in.VersionStage != nil {
			stage = *in.VersionStage
		}
		v = sec.holder(stage)
		if v == nil || !v.hasValue() {
			return nil, errStageNotFound(stage)
		}
	}
	today := day(s.now())
	if sec.LastAccessed == nil || !sec.LastAccessed.Equal(today) || v.LastAccessed == nil || !v.LastAccessed.Equal(today) {
		sec.LastAccessed = ptr(today)
		v.LastAccessed = ptr(today)
		s.commitLocked(ctx, sec.ARN)
	}
	return getSecretValueOutput{
		ARN:           sec.ARN,
		Name:          sec.Name,
		VersionId:     v.ID,
		SecretString:  v.String,
		SecretBinary:  v.Binary,
		VersionStages: slices.Clone(v.Stages),
		CreatedDate:   ts(v.Created),
	}, nil
}

// ---- PutSecretValue ----

type putSecretValueInput struct {
	SecretId           *string
	ClientRequestToken *string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
	RotationToken      *string
}

type putSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionId     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
}

func (s *Server) putSecretValue(ctx context.Context, in *putSecretValueInput) (any, *awsjson.Error) {
	for _, a := range []*awsjson.Error{
		validateToken(in.ClientRequestToken),
		validateValue(in.SecretString, in.SecretBinary),
		validateStages(in.VersionStages),
		protocol.CheckLen("rotationToken", in.RotationToken, 36, 256),
	} {
		if a != nil {
			return nil, a
		}
	}
	if in.SecretString == nil && in.SecretBinary == nil {
		return nil, awsjson.Errorf(codeInvalidRequest, "You must provide either SecretString or SecretBinary.")
	}
	token := awsjson.UUID()
	if in.ClientRequestToken != nil {
		token = *in.ClientRequestToken
	}
	sec, aerr := s.lockedSecret(in.SecretId, false)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	v, aerr := s.writeVersionLocked(ctx, sec, token, in.SecretString, in.SecretBinary, in.VersionStages)
	if aerr != nil {
		return nil, aerr
	}
	return putSecretValueOutput{ARN: sec.ARN, Name: sec.Name, VersionId: v.ID, VersionStages: slices.Clone(v.Stages)}, nil
}

// writeVersionLocked implements the value-writing core shared by
// PutSecretValue and UpdateSecret:
//
//   - token names an existing version with a value: same value is an idempotent
//     no-op, a different value is ResourceExistsException;
//   - token names RotateSecret's placeholder: the value is filled in;
//   - otherwise a new version is created;
//
// then the labels are attached (stages nil means AWSCURRENT; the very first
// version of a secret always gets AWSCURRENT).
func (s *Server) writeVersionLocked(ctx context.Context, sec *secret, token string, str *string, bin []byte, stages []string) (*version, *awsjson.Error) {
	v := sec.Versions[token]
	if v != nil && v.hasValue() {
		if v.sameValue(str, bin) {
			return v, nil
		}
		return nil, awsjson.Errorf(codeResourceExists, "You can't modify an existing version, you can only create new versions.")
	}
	labels := slices.Clone(stages)
	if labels == nil {
		labels = []string{stageCurrent}
	}
	if len(sec.Versions) == 0 && !slices.Contains(labels, stageCurrent) {
		labels = append(labels, stageCurrent)
	}
	if sec.stageLimitExceeded(labels) {
		return nil, errLimit()
	}
	if v == nil {
		v = s.newVersionLocked(sec, token, str, bin)
	} else {
		v.String, v.Binary = str, bin
	}
	for _, st := range labels {
		sec.moveStage(st, v)
	}
	sec.LastChanged = s.now()
	sec.pruneVersions()
	s.commitLocked(ctx, sec.ARN)
	return v, nil
}

// ---- UpdateSecretVersionStage ----

type updateSecretVersionStageInput struct {
	SecretId            *string
	VersionStage        *string
	MoveToVersionId     *string
	RemoveFromVersionId *string
}

type arnName struct {
	ARN  string `json:"ARN"`
	Name string `json:"Name"`
}

func (s *Server) updateSecretVersionStage(ctx context.Context, in *updateSecretVersionStageInput) (any, *awsjson.Error) {
	if in.VersionStage == nil {
		return nil, protocol.Null("versionStage")
	}
	for _, a := range []*awsjson.Error{
		protocol.CheckLen("versionStage", in.VersionStage, 1, 256),
		protocol.CheckLen("moveToVersionId", in.MoveToVersionId, 32, 64),
		protocol.CheckLen("removeFromVersionId", in.RemoveFromVersionId, 32, 64),
	} {
		if a != nil {
			return nil, a
		}
	}
	sec, aerr := s.lockedSecret(in.SecretId, false)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	stage := *in.VersionStage
	cur := sec.holder(stage)
	var remove *version
	if in.RemoveFromVersionId != nil {
		remove = sec.Versions[*in.RemoveFromVersionId]
		if remove == nil {
			return nil, errVersionIDNotFound(*in.RemoveFromVersionId)
		}
		if !remove.hasStage(stage) {
			return nil, awsjson.Errorf(codeInvalidParameter, "The staging label %s is not attached to the version %s specified in RemoveFromVersionId.", stage, remove.ID)
		}
	}
	switch {
	case in.MoveToVersionId != nil:
		to := sec.Versions[*in.MoveToVersionId]
		if to == nil {
			return nil, errVersionIDNotFound(*in.MoveToVersionId)
		}
		if cur != nil && cur != to && remove == nil {
			return nil, awsjson.Errorf(codeInvalidParameter, "The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", stage, cur.ID)
		}
		if cur == to {
			return arnName{ARN: sec.ARN, Name: sec.Name}, nil
		}
		if sec.stageLimitExceeded([]string{stage}) {
			return nil, errLimit()
		}
		sec.moveStage(stage, to)
	case remove != nil:
		if stage == stageCurrent {
			return nil, awsjson.Errorf(codeInvalidParameter, "You can't remove the staging label AWSCURRENT from a version without moving it to another version. Specify MoveToVersionId as well.")
		}
		sec.removeStage(stage, remove)
	default:
		return nil, awsjson.Errorf(codeInvalidParameter, "You must specify MoveToVersionId, RemoveFromVersionId, or both.")
	}
	sec.LastChanged = s.now()
	sec.pruneVersions()
	s.commitLocked(ctx, sec.ARN)
	return arnName{ARN: sec.ARN, Name: sec.Name}, nil
}

// ---- TagResource / UntagResource ----

type tagResourceInput struct {
	SecretId *string
	Tags     []tag
}

func (s *Server) tagResource(ctx context.Context, in *tagResourceInput) (any, *awsjson.Error) {
	if in.Tags == nil {
		return nil, protocol.Null("tags")
	}
	if aerr := validateTags(in.Tags); aerr != nil {
		return nil, aerr
	}
	sec, aerr := s.lockedSecret(in.SecretId, false)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	tags := slices.Clone(sec.Tags)
	for _, t := range in.Tags {
		i := slices.IndexFunc(tags, func(x tag) bool { return x.Key == t.Key })
		if i >= 0 {
			tags[i].Value = t.Value
		} else {
			tags = append(tags, t)
		}
	}
	if len(tags) > 50 {
		return nil, errLimit()
	}
	sec.Tags = tags
	sec.LastChanged = s.now()
	s.commitLocked(ctx, sec.ARN)
	return struct{}{}, nil
}

type untagResourceInput struct {
	SecretId *string
	TagKeys  []string
}

func (s *Server) untagResource(ctx context.Context, in *untagResourceInput) (any, *awsjson.Error) {
	if in.TagKeys == nil {
		return nil, protocol.Null("tagKeys")
	}
	sec, aerr := s.lockedSecret(in.SecretId, false)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	sec.Tags = slices.DeleteFunc(slices.Clone(sec.Tags), func(t tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	sec.LastChanged = s.now()
	s.commitLocked(ctx, sec.ARN)
	return struct{}{}, nil
}

// ---- UpdateSecret ----

type updateSecretInput struct {
	SecretId           *string
	ClientRequestToken *string
	Description        *string
	KmsKeyId           *string
	SecretString       *string
	SecretBinary       []byte
	Type               *string
}

func (s *Server) updateSecret(ctx context.Context, in *updateSecretInput) (any, *awsjson.Error) {
	for _, a := range []*awsjson.Error{
		validateToken(in.ClientRequestToken),
		protocol.CheckLen("description", in.Description, 0, 2048),
		protocol.CheckLen("kmsKeyId", in.KmsKeyId, 0, 2048),
		validateValue(in.SecretString, in.SecretBinary),
	} {
		if a != nil {
			return nil, a
		}
	}
	sec, aerr := s.lockedSecret(in.SecretId, false)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	out := arnNameVersion{ARN: sec.ARN, Name: sec.Name}
	if in.SecretString != nil || in.SecretBinary != nil {
		token := awsjson.UUID()
		if in.ClientRequestToken != nil {
			token = *in.ClientRequestToken
		}
		v, aerr := s.writeVersionLocked(ctx, sec, token, in.SecretString, in.SecretBinary, nil)
		if aerr != nil {
			return nil, aerr
		}
		out.VersionId = ptr(v.ID)
	}
	if in.Description != nil {
		sec.Description = in.Description
	}
	if in.KmsKeyId != nil {
		sec.KmsKeyID = in.KmsKeyId
	}
	sec.LastChanged = s.now()
	s.commitLocked(ctx, sec.ARN)
	return out, nil
}

// ---- DeleteSecret / RestoreSecret ----

type deleteSecretInput struct {
	SecretId                   *string
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery *bool
}

type deleteSecretOutput struct {
	ARN          string     `json:"ARN"`
	Name         string     `json:"Name"`
	DeletionDate *epochTime `json:"DeletionDate"`
}

func (s *Server) deleteSecret(ctx context.Context, in *deleteSecretInput) (any, *awsjson.Error) {
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if force && in.RecoveryWindowInDays != nil {
		return nil, awsjson.Errorf(codeInvalidParameter, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, awsjson.Errorf(codeInvalidParameter, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	sec, aerr := s.lockedSecret(in.SecretId, true)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	now := s.now()
	if force {
		s.st.remove(sec)
		s.commitLocked(ctx, sec.ARN)
		return deleteSecretOutput{ARN: sec.ARN, Name: sec.Name, DeletionDate: ts(now)}, nil
	}
	if sec.deleted() {
		return nil, errMarkedForDeletion()
	}
	when := now.Add(time.Duration(days) * 24 * time.Hour)
	sec.DeletedDate = ptr(now)
	sec.DeletionDate = ptr(when)
	sec.LastChanged = now
	s.deadlines.add(when, sec.ARN)
	s.commitLocked(ctx, sec.ARN)
	return deleteSecretOutput{ARN: sec.ARN, Name: sec.Name, DeletionDate: ts(when)}, nil
}

func (s *Server) restoreSecret(ctx context.Context, in *secretIDInput) (any, *awsjson.Error) {
	sec, aerr := s.lockedSecret(in.SecretId, true)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	if sec.deleted() {
		sec.DeletedDate, sec.DeletionDate = nil, nil
		sec.LastChanged = s.now()
		s.commitLocked(ctx, sec.ARN)
	}
	return arnName{ARN: sec.ARN, Name: sec.Name}, nil
}
