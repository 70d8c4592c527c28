package extauthz

import (
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/internal/partner"
)

// Dynamic metadata keys of a partner's own rate limits, emitted on allow
// under the ext_authz filter's namespace only for the windows the partner
// has a limit of its own in. Each value is the struct Envoy's
// RateLimit.Override.DynamicMetadata reads:
//
//	{requests_per_unit: <number>, unit: "SECOND" | "MINUTE" | "DAY"}
//
// (the unit is the name of an envoy.type.v3.RateLimitUnit). The shipped
// route's rate_limits entry for each window points its limit override at
// its key, and Envoy sends it to the rate-limit service as the
// descriptor's limit, which replaces the configured one.
const (
	MetadataLimitSecond = "limit_second"
	MetadataLimitMinute = "limit_minute"
	MetadataLimitDay    = "limit_day"

	// Field names and units of the override struct, as Envoy parses it.
	overrideRequestsPerUnit = "requests_per_unit"
	overrideUnit            = "unit"
)

// limitOverrides is the backing store of a partner's limit overrides in
// one allow response: one allocation for every message, plus one small
// map per window set. A partner without limits of its own costs nothing.
type limitOverrides struct {
	values  [3]structpb.Value
	structs [3]structpb.Value_StructValue
	inner   [3]structpb.Struct
	fields  [3][2]structpb.Value
	numbers [3]structpb.Value_NumberValue
	units   [3]structpb.Value_StringValue
}

// addLimitOverrides adds to md an override struct for each window l sets.
func addLimitOverrides(md map[string]*structpb.Value, l partner.Limits) {
	if l.IsZero() {
		return
	}
	o := new(limitOverrides)
	for i, w := range [...]struct {
		key, unit string
		n         uint32
	}{
		{MetadataLimitSecond, "SECOND", l.PerSecond},
		{MetadataLimitMinute, "MINUTE", l.PerMinute},
		{MetadataLimitDay, "DAY", l.PerDay},
	} {
		if w.n == 0 {
			continue
		}
		o.numbers[i].NumberValue = float64(w.n)
		o.fields[i][0].Kind = &o.numbers[i]
		o.units[i].StringValue = w.unit
		o.fields[i][1].Kind = &o.units[i]
		o.inner[i].Fields = map[string]*structpb.Value{
			overrideRequestsPerUnit: &o.fields[i][0],
			overrideUnit:            &o.fields[i][1],
		}
		o.structs[i].StructValue = &o.inner[i]
		o.values[i].Kind = &o.structs[i]
		md[w.key] = &o.values[i]
	}
}
