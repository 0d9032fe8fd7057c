package lifecycle

import (
	"fmt"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
)

// checkProvider refuses a provider whose declared switch-off does not match
// the capabilities it implements, so the lifecycle never claims a step the
// provider cannot take.
func checkProvider(name string, p rotation.Provider) error {
	if p == nil {
		return fmt.Errorf("lifecycle: provider %q is nil", name)
	}
	_, deactivator := p.(rotation.Deactivator)
	_, deleter := p.(rotation.Deleter)
	switch off := p.SwitchOff(); off {
	case rotation.SwitchOffReversible:
		if !deactivator {
			return fmt.Errorf("lifecycle: provider %q declares a %s switch-off but is not a rotation.Deactivator", name, off)
		}
	case rotation.SwitchOffLabelGated:
		if deactivator {
			return fmt.Errorf("lifecycle: provider %q declares a %s switch-off (the label move is the switch-off) but is a rotation.Deactivator; declare %s instead",
				name, off, rotation.SwitchOffReversible)
		}
	case rotation.SwitchOffDeleteOnly:
		if !deleter {
			return fmt.Errorf("lifecycle: provider %q declares a %s switch-off but is not a rotation.Deleter", name, off)
		}
		if deactivator {
			return fmt.Errorf("lifecycle: provider %q declares a %s switch-off but is a rotation.Deactivator; declare %s instead",
				name, off, rotation.SwitchOffReversible)
		}
	case rotation.SwitchOffExternal:
		if _, ok := p.(rotation.ExpiryChecker); !ok {
			return fmt.Errorf("lifecycle: provider %q declares a %s switch-off but is not a rotation.ExpiryChecker", name, off)
		}
		if deactivator {
			return fmt.Errorf("lifecycle: provider %q declares a %s switch-off but is a rotation.Deactivator; declare %s instead",
				name, off, rotation.SwitchOffReversible)
		}
	case rotation.SwitchOffNone:
		return fmt.Errorf("lifecycle: provider %q declares switch-off %s for every secret: that is only a per-secret answer (rotation.SwitchOffPerSecret); declare the path of the secrets that have an old credential to switch off",
			name, off)
	default:
		return fmt.Errorf("lifecycle: provider %q declares switch-off %q; want %s, %s, %s or %s",
			name, off, rotation.SwitchOffReversible, rotation.SwitchOffLabelGated, rotation.SwitchOffDeleteOnly, rotation.SwitchOffExternal)
	}
	return nil
}

// switchOffOf returns the path of version v's credential and, for
// rotation.SwitchOffNone, why: the provider's SwitchOffFor when it has one
// (and v is known), else its SwitchOff. It refuses an answer other than
// the provider's own path or SwitchOffNone, so the lifecycle never takes a
// path the provider's capabilities were not checked for.
func (l *Lifecycle) switchOffOf(s *secret, v *rotation.Version) (rotation.SwitchOff, string, error) {
	off := s.provider.SwitchOff()
	ps, ok := s.provider.(rotation.SwitchOffPerSecret)
	if !ok || v == nil {
		return off, "", nil
	}
	got, why := ps.SwitchOffFor(v)
	switch got {
	case off:
		return off, "", nil
	case rotation.SwitchOffNone:
		if why == "" {
			why = "the old credential stopped working when setSecret replaced it in place"
		}
		return got, why, nil
	}
	return "", "", fmt.Errorf("secret %s: provider %s declares switch-off %q for version %s, but a provider may declare per secret only its own path (%s) or %s; nothing was changed",
		s.name, s.provider.Name(), got, v.ID, off, rotation.SwitchOffNone)
}

// Path describes in words the path a provider's old credentials take under
// settings s, for status, dry runs and logs, e.g.
//
//	reversible: drain 1h → usage check (quiet 1h) → deactivate → grace 48h → delete; rollback reactivates it until the delete
//
// For a provider whose path depends on the secret (rotation.SwitchOffPerSecret)
// it describes its own path and says that some secrets have nothing to
// switch off; the lifecycle's reports give the secret's own (PathFor).
func Path(p rotation.Provider, s Settings) string {
	path := PathFor(p, p.SwitchOff(), "", s)
	if _, ok := p.(rotation.SwitchOffPerSecret); ok {
		path += "; for a secret whose old credential stops working at setSecret there is nothing to switch off (" + string(rotation.SwitchOffNone) + ")"
	}
	return path
}

// PathFor describes the path off of a provider's old credential under
// settings s; why says, for rotation.SwitchOffNone, why nothing is left to
// switch off.
func PathFor(p rotation.Provider, off rotation.SwitchOff, why string, s Settings) string {
	if off == rotation.SwitchOffNone {
		if why == "" {
			why = "the old credential stopped working when setSecret replaced it in place"
		}
		return string(off) + ": nothing to switch off (" + why + "): no drain, no usage check, no deactivation; AWSPREVIOUS keeps its label; no rollback: the old credential cannot come back"
	}
	steps := []string{"drain " + human(s.Drain)}
	if _, ok := p.(rotation.UsageReporter); ok && s.UsageLogs != "" {
		steps = append(steps, "usage check (quiet "+human(s.Quiet)+"; the provider's evidence and CloudWatch Logs "+s.UsageLogs+")")
	} else if ok {
		steps = append(steps, "usage check (quiet "+human(s.Quiet)+")")
	} else if s.UsageLogs != "" {
		steps = append(steps, "usage check (quiet "+human(s.Quiet)+"; CloudWatch Logs "+s.UsageLogs+")")
	} else {
		steps = append(steps, "no usage evidence")
	}
	window := func() {
		if s.Window != nil {
			steps = append(steps, "window "+s.Window.String())
		}
	}
	_, deleter := p.(rotation.Deleter)
	var tail string
	switch off {
	case rotation.SwitchOffReversible:
		window()
		steps = append(steps, "deactivate")
		if deleter {
			steps = append(steps, "grace "+human(s.Grace), "delete")
			tail = "rollback reactivates it until the delete"
		} else {
			tail = "no delete stage: it stays deactivated until the next rotation reuses it; rollback reactivates it until then"
		}
	case rotation.SwitchOffLabelGated:
		window()
		steps = append(steps, "remove AWSPREVIOUS (keyring services refuse it within their check interval)", "grace "+human(s.Grace), "delete")
		tail = "rollback puts AWSPREVIOUS back until the delete"
	case rotation.SwitchOffDeleteOnly:
		steps = append(steps, "confirmation "+human(s.Confirm))
		window()
		steps = append(steps, "delete")
		tail = "the vendor cannot disable a credential, so there is no deactivated stage; rollback is possible until the delete"
	case rotation.SwitchOffExternal:
		steps = append(steps, "the vendor switches it off at the time chosen when it was rolled", "checked dead", "AWSPREVIOUS removed")
		tail = "dualkey cannot switch it off and alerts while it still works after that; rollback is possible while the vendor still accepts it"
	default:
		return string(off) + ": unknown path"
	}
	return string(off) + ": " + strings.Join(steps, " → ") + "; " + tail
}
