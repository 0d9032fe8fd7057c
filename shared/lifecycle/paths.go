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
	default:
		return fmt.Errorf("lifecycle: provider %q declares switch-off %q; want %s, %s, %s or %s",
			name, off, rotation.SwitchOffReversible, rotation.SwitchOffLabelGated, rotation.SwitchOffDeleteOnly, rotation.SwitchOffExternal)
	}
	return nil
}

// Path describes in words the path a provider's old credentials take under
// settings s, for status, dry runs and logs, e.g.
//
//	reversible: drain 1h → usage check (quiet 1h) → deactivate → grace 48h → delete; rollback reactivates it until the delete
func Path(p rotation.Provider, s Settings) string {
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
	switch p.SwitchOff() {
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
		return string(p.SwitchOff()) + ": unknown path"
	}
	return string(p.SwitchOff()) + ": " + strings.Join(steps, " → ") + "; " + tail
}
