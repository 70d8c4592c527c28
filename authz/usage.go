package authz

import "time"

// Usage learns that an API key passed a Check, so that operators can see
// when, and from where, each key was last used. Used is called on the hot
// path for every allowed API-key Check: it must not block or do I/O.
type Usage interface {
	Used(credentialID, clientAddr string, at time.Time)
}

// recordUse tells the Usage hook about an allowed API-key decision.
func (s *Server) recordUse(d *Decision) {
	if s.usage != nil && d.apiKey && d.Allowed() {
		s.usage.Used(d.CredentialID, d.ClientAddr, s.now())
	}
}
