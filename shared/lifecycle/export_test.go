package lifecycle

// Every Retire in this package's tests also checks the sweep's decision from
// the list entry against retire's own (see quickCheck).
func init() { verifyQuick = true }
