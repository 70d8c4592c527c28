package envoy

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Descriptors evaluates a route's rate_limits (those of stage) against the
// dynamic metadata of a request, keyed by filter namespace, and returns the
// descriptors Envoy's ratelimit filter would send, in order.
//
// It follows Envoy's rules for the actions it knows — generic_key and
// metadata (source DYNAMIC) — including the one that matters most: an
// action that yields no entry drops its whole descriptor (that request is
// then not limited by it), unless default_value supplies a value or
// skip_if_absent drops only the entry. A limit override from dynamic
// metadata becomes the descriptor's limit, as Envoy sets it: only when the
// value there is a struct with a number requests_per_unit and a unit that
// names a RateLimitUnit ("SECOND", "MINUTE", …); anything else leaves the
// descriptor without a limit, so the service's configured one applies.
// Any other action or override, a disable_key or a hits_addend is an error
// rather than a guess, so the shipped config cannot outgrow what its tests
// simulate.
func Descriptors(rateLimits []*routev3.RateLimit, stage uint32, dynamicMetadata map[string]*structpb.Struct) ([]*ratelimitv3.RateLimitDescriptor, error) {
	var out []*ratelimitv3.RateLimitDescriptor
	for i, rl := range rateLimits {
		if rl.GetStage().GetValue() != stage {
			continue
		}
		if rl.GetDisableKey() != "" || rl.GetHitsAddend() != nil || rl.GetApplyOnStreamDone() {
			return nil, fmt.Errorf("rate_limits[%d]: disable_key, hits_addend and apply_on_stream_done are not simulated", i)
		}
		d := &ratelimitv3.RateLimitDescriptor{}
		complete := true
		for j, a := range rl.GetActions() {
			e, ok, err := entry(a, dynamicMetadata)
			if err != nil {
				return nil, fmt.Errorf("rate_limits[%d].actions[%d]: %w", i, j, err)
			}
			if !ok {
				complete = false
				break
			}
			if e != nil {
				d.Entries = append(d.Entries, e)
			}
		}
		if complete && len(d.Entries) > 0 {
			if o := rl.GetLimit(); o != nil {
				l, err := limitOverride(o, dynamicMetadata)
				if err != nil {
					return nil, fmt.Errorf("rate_limits[%d].limit: %w", i, err)
				}
				d.Limit = l
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// entry evaluates one action. ok false drops the descriptor; a nil entry
// with ok true skips only the entry.
func entry(a *routev3.RateLimit_Action, md map[string]*structpb.Struct) (*ratelimitv3.RateLimitDescriptor_Entry, bool, error) {
	switch s := a.GetActionSpecifier().(type) {
	case *routev3.RateLimit_Action_GenericKey_:
		key := s.GenericKey.GetDescriptorKey()
		if key == "" {
			key = "generic_key"
		}
		return &ratelimitv3.RateLimitDescriptor_Entry{Key: key, Value: s.GenericKey.GetDescriptorValue()}, true, nil
	case *routev3.RateLimit_Action_Metadata:
		m := s.Metadata
		if m.GetSource() != routev3.RateLimit_Action_MetaData_DYNAMIC {
			return nil, false, fmt.Errorf("metadata source %v is not simulated", m.GetSource())
		}
		v := lookup(md[m.GetMetadataKey().GetKey()], m.GetMetadataKey().GetPath())
		switch {
		case v != "":
		case m.GetDefaultValue() != "":
			v = m.GetDefaultValue()
		case m.GetSkipIfAbsent():
			return nil, true, nil
		default:
			return nil, false, nil
		}
		return &ratelimitv3.RateLimitDescriptor_Entry{Key: m.GetDescriptorKey(), Value: v}, true, nil
	default:
		return nil, false, fmt.Errorf("action %T is not simulated", s)
	}
}

// lookup follows path through s; like Envoy, only a string value counts.
func lookup(s *structpb.Struct, path []*metadatav3.MetadataKey_PathSegment) string {
	return lookupValue(s, path).GetStringValue()
}

// lookupValue follows path through s; nil if it leads nowhere.
func lookupValue(s *structpb.Struct, path []*metadatav3.MetadataKey_PathSegment) *structpb.Value {
	var v *structpb.Value
	for _, seg := range path {
		if s == nil {
			return nil
		}
		v = s.GetFields()[seg.GetKey()]
		s = v.GetStructValue()
	}
	return v
}

// limitOverride evaluates a rate_limits entry's limit as Envoy's
// DynamicMetadataRateLimitOverride does; nil when the metadata holds no
// usable override.
func limitOverride(o *routev3.RateLimit_Override, md map[string]*structpb.Struct) (*ratelimitv3.RateLimitDescriptor_RateLimitOverride, error) {
	dm := o.GetDynamicMetadata()
	if dm == nil {
		return nil, fmt.Errorf("override %T is not simulated", o.GetOverrideSpecifier())
	}
	key := dm.GetMetadataKey()
	fields := lookupValue(md[key.GetKey()], key.GetPath()).GetStructValue().GetFields()
	n, okN := fields["requests_per_unit"].GetKind().(*structpb.Value_NumberValue)
	u, okU := fields["unit"].GetKind().(*structpb.Value_StringValue)
	if !okN || !okU {
		return nil, nil
	}
	unit, ok := typev3.RateLimitUnit_value[u.StringValue]
	if !ok {
		return nil, nil
	}
	return &ratelimitv3.RateLimitDescriptor_RateLimitOverride{
		RequestsPerUnit: uint32(n.NumberValue),
		Unit:            typev3.RateLimitUnit(unit),
	}, nil
}
