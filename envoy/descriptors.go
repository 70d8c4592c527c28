package envoy

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
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
// skip_if_absent drops only the entry. Any other action, a disable_key, a
// limit override or a hits_addend is an error rather than a guess, so the
// shipped config cannot outgrow what its tests simulate.
func Descriptors(rateLimits []*routev3.RateLimit, stage uint32, dynamicMetadata map[string]*structpb.Struct) ([]*ratelimitv3.RateLimitDescriptor, error) {
	var out []*ratelimitv3.RateLimitDescriptor
	for i, rl := range rateLimits {
		if rl.GetStage().GetValue() != stage {
			continue
		}
		if rl.GetDisableKey() != "" || rl.GetLimit() != nil || rl.GetHitsAddend() != nil || rl.GetApplyOnStreamDone() {
			return nil, fmt.Errorf("rate_limits[%d]: disable_key, limit, hits_addend and apply_on_stream_done are not simulated", i)
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
	var v *structpb.Value
	for _, seg := range path {
		if s == nil {
			return ""
		}
		v = s.GetFields()[seg.GetKey()]
		s = v.GetStructValue()
	}
	return v.GetStringValue()
}
