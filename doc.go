// Package dualkey holds repository-level checks (template.yaml against the
// Makefile and functions/). The code lives in functions/, shared/ and cmd/.
package dualkey
