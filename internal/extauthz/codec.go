package extauthz

// The pre-encoded codec lets the Check server send a message it encoded
// once. A [encoded] holds a protobuf message's encoding; the server's
// [codec] sends those bytes as they are and marshals every other message
// as grpc-go's own proto codec does.
//
// The Check server answers most requests from its allow memo, with a
// response it has sent many times before. Marshalling that response again
// on every call walks the whole tree of message structs and maps, rarely
// still in the CPU's caches when a thousand partner keys take turns; the
// encoding is one short contiguous buffer (BENCHMARKS.md measures the
// difference).

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// encoded is a protobuf message in wire form, immutable once made and
// safe to send on any number of calls at once.
//
// It is one allocation with what gRPC reads to send it, the one-buffer
// slice and its buffer, pointing into itself (a SliceBuffer boxed in an
// interface would be a separate allocation, and the slice's array
// another, each a likely cache and TLB miss when the message is cold). It
// must therefore not be copied once made.
type encoded struct {
	data mem.BufferSlice // one[:]
	one  [1]mem.Buffer   // &buf: a pointer, boxed without an allocation
	buf  mem.SliceBuffer // the encoding; its Free does nothing
}

// encode returns m's encoding as an encoded message. The encoding is deterministic
// (map entries in key order), so the same message always gives the same
// bytes.
func encode(m proto.Message) (*encoded, error) {
	msg := new(encoded)
	if err := encodeInto(msg, nil, m); err != nil {
		return nil, err
	}
	return msg, nil
}

// encodeInto is [encode] into msg, in place, encoding m into buf's
// capacity when it fits. A caller that keeps msg and buf inside a larger
// struct keeps the whole answer in one block of memory. msg must not be
// copied afterwards, nor buf's capacity reused.
func encodeInto(msg *encoded, buf []byte, m proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf[:0], m)
	if err != nil {
		return fmt.Errorf("extauthz: encode: %w", err)
	}
	msg.buf = b
	msg.one[0] = &msg.buf
	msg.data = msg.one[:]
	return nil
}

// Bytes returns the encoding. The caller must not modify it.
func (m *encoded) Bytes() []byte { return m.buf }

// codec is a gRPC codec, named "proto" like the one it extends, that
// sends an [*encoded] as its bytes and hands every other value to grpc-go's
// proto codec, as it does every message it receives.
type codec struct {
	proto encoding.CodecV2
}

var _ encoding.CodecV2 = codec{}

// newCodec returns the codec.
func newCodec() codec {
	return codec{proto: encoding.GetCodecV2(protocodec.Name)}
}

// ServerOption makes a gRPC server marshal and unmarshal with [Codec],
// whatever content subtype a call names.
func ServerOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(newCodec())
}

// Codec returns the codec [ServerOption] serves with, for measuring the
// handler's marshalling without a server.
func Codec() encoding.CodecV2 { return newCodec() }

// Name is "proto": the bytes on the wire are protobuf whichever way they
// were made.
func (codec) Name() string { return protocodec.Name }

// Marshal returns an encoded message's bytes without copying them; grpc-go only
// reads them, and frees nothing that a SliceBuffer holds.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*encoded); ok && m != nil {
		return m.data, nil
	}
	return c.proto.Marshal(v)
}

// Unmarshal is the proto codec's.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.proto.Unmarshal(data, v)
}
