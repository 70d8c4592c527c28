// Package partner is the domain of partnergate: partners (tenants), their
// credentials, scopes and tiers, and the rules that relate them.
//
// It owns the invariants that hold whatever the storage or transport: a
// credential's scopes lie within its partner's grants, identifiers have a
// fixed, safe alphabet, and a credential is usable only while it is neither
// revoked nor expired.
//
// It must not import infrastructure or any other internal package; every
// other layer imports it. Values are plain data and safe to share once built:
// callers treat them as immutable.
package partner
