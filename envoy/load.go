package envoy

import (
	"errors"
	"fmt"
	"os"
	"sort"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// Typed configs the shipped bootstraps pack in Any fields; importing
	// them registers their types so protojson can resolve "@type".
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/request_id/uuid/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// Bootstrap is a decoded, validated Envoy bootstrap.
type Bootstrap struct {
	*bootstrapv3.Bootstrap
	// Types lists the full names of the typed configs found packed in Any
	// fields, each once, sorted.
	Types []string
}

// Load reads and decodes the bootstrap YAML at path; see [Decode].
func Load(path string) (*Bootstrap, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	bs, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return bs, nil
}

// Decode decodes a bootstrap YAML strictly (unknown fields and
// unregistered "@type"s are errors) and validates it, including every
// typed config packed inside it, recursively.
func Decode(yamlDoc []byte) (*Bootstrap, error) {
	j, err := yaml.YAMLToJSON(yamlDoc)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var bs bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(j, &bs); err != nil {
		return nil, fmt.Errorf("decode bootstrap: %w", err)
	}
	if err := Validate(&bs); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	if err := walk(bs.ProtoReflect(), seen); err != nil {
		return nil, err
	}
	out := &Bootstrap{Bootstrap: &bs}
	for t := range seen {
		out.Types = append(out.Types, t)
	}
	sort.Strings(out.Types)
	return out, nil
}

// Validate runs m's protoc-gen-validate rules (all of them, not just the
// first failure) and, recursively, those of every typed config packed in
// an Any inside m.
func Validate(m proto.Message) error {
	if err := validateOne(m); err != nil {
		return err
	}
	return walk(m.ProtoReflect(), map[string]bool{})
}

type allValidator interface{ ValidateAll() error }

func validateOne(m proto.Message) error {
	v, ok := m.(allValidator)
	if !ok {
		return nil
	}
	if err := v.ValidateAll(); err != nil {
		return fmt.Errorf("%s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// walk visits every message set in m; each Any is unpacked, validated and
// walked in turn. The generated ValidateAll stops at an Any, so without
// this the filters — most of an Envoy config — would go unchecked.
func walk(m protoreflect.Message, seen map[string]bool) error {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("unpack %s: %w", a.GetTypeUrl(), err)
		}
		seen[string(inner.ProtoReflect().Descriptor().FullName())] = true
		if err := validateOne(inner); err != nil {
			return err
		}
		return walk(inner.ProtoReflect(), seen)
	}
	var errs []error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				errs = append(errs, walk(l.Get(i).Message(), seen))
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				errs = append(errs, walk(mv.Message(), seen))
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			errs = append(errs, walk(v.Message(), seen))
		}
		return true
	})
	return errors.Join(errs...)
}
