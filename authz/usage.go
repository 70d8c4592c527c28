package authz

import "time"

// Usage learns that an API key passed a Check, so that operators can see
// when, and from where, each key was last used. Used is called on the hot
// path for every allowed API-key Check: it must not block or do I/O.
type Usage interface {
	Used(credentialID, clientAddr string, at time.Time)
}

// recordUse tells the Usage hook about an allowed API-key decision,
// answered from memo entry e if not nil. Within Options.UsageResolution of
// the use last reported through e it reports nothing: a busy key's Checks
// then skip the hook, whose record would not change, and read only e,
// which the answer has just read.
func (s *Server) recordUse(d *Decision, e *allowEntry) {
	if s.usage == nil || !d.apiKey {
		return
	}
	now := s.now()
	if e != nil && s.usageRes > 0 {
		at, last := now.UnixNano(), e.reported.Load()
		if at >= last && at-last < int64(s.usageRes) {
			return
		}
		e.reported.Store(at)
	}
	s.usage.Used(d.CredentialID, d.ClientAddr, now)
}
