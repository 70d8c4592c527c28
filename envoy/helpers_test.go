package envoy

import (
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func metadataKey(ns string, path ...string) *metadatav3.MetadataKey {
	k := &metadatav3.MetadataKey{Key: ns}
	for _, p := range path {
		k.Path = append(k.Path, &metadatav3.MetadataKey_PathSegment{Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: p}})
	}
	return k
}

func wrapUint32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }
