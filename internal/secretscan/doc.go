// Package secretscan is partnergate's secret-scanning endpoint: GitHub's
// and GitLab's partner programs POST the partner keys they find published
// in public repositories, gists, issues and packages, and each reported
// key that is ours and live is revoked at once, with reason "leaked"
// (GitHub, "Secret scanning partner program"; GitLab, "Secret detection
// post-processing and revocation").
//
// A report is trusted only once its ECDSA P-256 signature over the raw
// body verifies with a public key the program publishes ([KeySet]);
// anything else is refused with 401, or 413 for a body over the cap, and
// changes nothing. A verified report is handled token by token: the key
// format and checksum first (a failure is a false positive and costs no
// look-up), then the credential by its public id with the digest compared
// in constant time, as Check does. The reply is GitHub's feedback array,
// which names each token by its SHA-256, never by its value.
//
// [Handler.Report] is that judgment without the HTTP edge: the admin API's
// ReportLeakedKeys, which `partnergate scan --revoke` calls, hands it the
// tokens an authenticated operator found, so a key is revoked only when
// the token is its full value, whoever reports it.
//
// The package owns no storage: it reads and writes credentials through
// the small [Keys] interface, so every revocation commits with its audit
// event and a change-feed entry like any admin write, and reaches every
// replica through the feed. It must not import a store, the cache, the
// admin API or the Check decision.
//
// A [Handler] and a [KeySet] are safe for concurrent use.
package secretscan
