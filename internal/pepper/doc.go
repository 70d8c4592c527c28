// Package pepper owns the server-side secret that API key digests are keyed
// with: where its file lives, reading it, generating it for an empty store,
// and proving at start-up that it is the pepper the store's keys were
// hashed with.
//
// Losing the pepper invalidates every key, and a different pepper refuses
// every key while the server looks healthy. So the store keeps a
// fingerprint of each pepper version ([apikey.Fingerprint], never the
// pepper), [Open] refuses a pepper that does not match it, and a new pepper
// is generated only when the store has no live key that needs the old one.
//
// The package reads and writes only the pepper file and the store's meta
// settings; it never logs the pepper. Its functions are safe for
// concurrent use; two processes generating a pepper at once agree on one
// file.
package pepper
