// Package wire lets a gRPC server send a message it encoded once. A
// [Message] holds a protobuf message's encoding; the server's [Codec]
// sends those bytes as they are and marshals every other message as
// grpc-go's own proto codec does.
//
// The Check server answers most requests from its allow memo, with a
// response it has sent many times before. Marshalling that response again
// on every call walks some thirty cache lines of message structs and maps
// that are rarely still in the CPU's caches when a thousand partner keys
// take turns; the encoding is a few hundred contiguous bytes.
package wire

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Message is a protobuf message in wire form, immutable once made and
// safe to send on any number of calls at once.
type Message struct {
	data mem.BufferSlice // one SliceBuffer, whose Free does nothing
}

// Encode returns m's encoding as a Message. The encoding is deterministic
// (map entries in key order), so the same message always gives the same
// bytes.
func Encode(m proto.Message) (*Message, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	return &Message{data: mem.BufferSlice{mem.SliceBuffer(b)}}, nil
}

// Bytes returns the encoding. The caller must not modify it.
func (m *Message) Bytes() []byte { return m.data[0].ReadOnlyData() }

// Codec is a gRPC codec, named "proto" like the one it extends, that
// sends a [*Message] as its bytes and hands every other value to grpc-go's
// proto codec, as it does every message it receives.
type Codec struct {
	proto encoding.CodecV2
}

var _ encoding.CodecV2 = Codec{}

// NewCodec returns the codec.
func NewCodec() Codec {
	return Codec{proto: encoding.GetCodecV2(protocodec.Name)}
}

// ServerOption makes a gRPC server marshal and unmarshal with the codec,
// whatever content subtype a call names.
func ServerOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(NewCodec())
}

// Name is "proto": the bytes on the wire are protobuf whichever way they
// were made.
func (Codec) Name() string { return protocodec.Name }

// Marshal returns a Message's bytes without copying them; grpc-go only
// reads them, and frees nothing that a SliceBuffer holds.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*Message); ok && m != nil {
		return m.data, nil
	}
	return c.proto.Marshal(v)
}

// Unmarshal is the proto codec's.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.proto.Unmarshal(data, v)
}
