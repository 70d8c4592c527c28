// Package detectors holds the partnergate key rules for common secret
// scanners — gitleaks (gitleaks.toml) and trufflehog (trufflehog.yaml) —
// and the tests that hold them to the key format: the real gitleaks finds
// what `partnergate scan` finds on a fixture of planted keys and
// near-misses. It has no Go code of its own.
package detectors
