package twiliotoken

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	api2010 "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
)

// lockPrefix starts the friendly name of a lock key.
const lockPrefix = "dualkey-lock"

// maxTokenInLock is the longest version id a lock name spells out (Twilio
// allows 64 characters in a friendly name).
const maxTokenInLock = 36

// maxKeysListed bounds a key listing.
const maxKeysListed = 10000

// lock is one lock key.
type lock struct {
	sid     string
	token   string // the version id as spelt (see tokenTag)
	secret  string // the secret's tag
	created time.Time
}

func secretTag(secretARN string) string {
	sum := sha256.Sum256([]byte(secretARN))
	return hex.EncodeToString(sum[:])[:12]
}

func tokenTag(token string) string {
	if len(token) <= maxTokenInLock && !strings.ContainsAny(token, " \t") {
		return token
	}
	sum := sha256.Sum256([]byte(token))
	return "h" + hex.EncodeToString(sum[:])[:32]
}

// LockName is the friendly name of the lock key createSecret holds for the
// rotation token of the secret secretARN: "dualkey-lock <version id>
// <secret tag>" (the secret tag is 12 hex digits of the SHA-256 of the
// ARN; a version id longer than 36 characters is replaced by "h" and 32
// hex digits of its SHA-256).
func LockName(secretARN, token string) string {
	return lockPrefix + " " + tokenTag(token) + " " + secretTag(secretARN)
}

// locks lists the account's lock keys.
func (p *Provider) locks(s *services) ([]lock, error) {
	size, limit := 1000, maxKeysListed+1
	got, err := s.api.ListKey(&api2010.ListKeyParams{PathAccountSid: &s.cred.account, PageSize: &size, Limit: &limit})
	if err != nil {
		return nil, callError("list the API keys of account "+s.cred.account, s.cred, err)
	}
	if len(got) > maxKeysListed {
		return nil, fmt.Errorf("account %s has more than %d API keys; dualkey cannot look for its lock among them", s.cred.account, maxKeysListed)
	}
	var out []lock
	for _, k := range got {
		f := strings.Fields(twilioclient.Deref(k.FriendlyName))
		if len(f) != 3 || f[0] != lockPrefix || len(f[2]) != 12 || !keyPattern.MatchString(twilioclient.Deref(k.Sid)) {
			continue
		}
		out = append(out, lock{sid: twilioclient.Deref(k.Sid), token: f[1], secret: f[2], created: twilioclient.ParseTime(k.DateCreated)})
	}
	return out, nil
}

// takeLock creates this delivery's lock key and checks that it is the only
// one besides the stale ones (older than rotation.OrphanAge, judged by the
// caller); otherwise it deletes its own and returns an error wrapping
// rotation.ErrConcurrentDelivery. The key's secret is dropped at once.
func (p *Provider) takeLock(s *services, secretARN, token string, stale map[string]bool) (string, error) {
	name := LockName(secretARN, token)
	k, err := s.api.CreateNewKey(&api2010.CreateNewKeyParams{PathAccountSid: &s.cred.account, FriendlyName: &name})
	if err != nil {
		return "", callError("create the lock key "+name, s.cred, err)
	}
	mine := twilioclient.Deref(k.Sid)
	if !keyPattern.MatchString(mine) {
		return "", fmt.Errorf("create the lock key %s: Twilio answered without a key SID", name)
	}
	all, err := p.locks(s)
	if err != nil {
		return mine, err
	}
	for _, l := range all {
		if l.sid != mine && !stale[l.sid] {
			if derr := p.deleteKey(s, mine); derr != nil {
				return mine, fmt.Errorf("%w: lock key %s appeared next to this delivery's lock %s, and deleting ours failed: %v",
					rotation.ErrConcurrentDelivery, l.sid, mine, derr)
			}
			return "", fmt.Errorf("%w: another delivery holds lock key %s (%s); this delivery gave its own up and changed nothing else: "+
				"Secrets Manager's retry goes through once it is stored or provably an orphan", rotation.ErrConcurrentDelivery, l.sid, l.created.UTC().Format(time.RFC3339))
		}
	}
	return mine, nil
}

// dropLocks deletes the locks of the secret for token ("" for any token).
func (p *Provider) dropLocks(s *services, secretARN, token string) error {
	all, err := p.locks(s)
	if err != nil {
		return err
	}
	for _, l := range all {
		if l.secret != secretTag(secretARN) || (token != "" && l.token != tokenTag(token)) {
			continue
		}
		if err := p.deleteKey(s, l.sid); err != nil {
			return err
		}
	}
	return nil
}

// deleteKey deletes a key; one that is gone is success.
func (p *Provider) deleteKey(s *services, sid string) error {
	err := s.api.DeleteKey(sid, &api2010.DeleteKeyParams{PathAccountSid: &s.cred.account})
	if err != nil && !twilioclient.IsNotFound(err) {
		return callError("delete the lock key "+sid, s.cred, err)
	}
	return nil
}
