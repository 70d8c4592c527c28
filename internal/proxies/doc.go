// Package proxies holds the proxy configurations partnergate ships for
// its HTTP forward-auth server, and the tests that run them: nginx
// (nginx/partnergate.conf) and Caddy (caddy/Caddyfile) are started for
// real, from these files, in front of a real partnergate and an upstream
// that echoes what it received; Traefik's file-provider configuration
// (traefik/dynamic.yaml) is decoded and checked.
//
// The package has no code of its own: the configs are its product, and
// the docs (docs/proxies.md) show them.
package proxies
