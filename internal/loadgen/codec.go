package loadgen

import (
	"fmt"

	"google.golang.org/grpc/encoding"
)

// rawCodec passes pre-marshalled bytes through, so the client spends no
// CPU on protobuf: a client slower than the server hides the server's cost.
// Its name is "proto", so the server sees an ordinary gRPC call.
type rawCodec struct{}

var _ encoding.Codec = rawCodec{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("loadgen: raw codec cannot marshal %T", v)
	}
	return *b, nil
}

// Unmarshal keeps the response bytes in the caller's reused buffer.
func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("loadgen: raw codec cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}
