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
//
// It is one allocation with what gRPC reads to send it, the one-buffer
// slice and its buffer, pointing into itself (a SliceBuffer boxed in an
// interface would be a separate allocation, and the slice's array
// another, each a likely cache and TLB miss when the message is cold). It
// must therefore not be copied once made.
type Message struct {
	data mem.BufferSlice // one[:]
	one  [1]mem.Buffer   // &buf: a pointer, boxed without an allocation
	buf  mem.SliceBuffer // the encoding; its Free does nothing
}

// Encode returns m's encoding as a Message. The encoding is deterministic
// (map entries in key order), so the same message always gives the same
// bytes.
func Encode(m proto.Message) (*Message, error) {
	msg := new(Message)
	if err := EncodeInto(msg, nil, m); err != nil {
		return nil, err
	}
	return msg, nil
}

// EncodeInto is [Encode] into msg, in place, encoding m into buf's
// capacity when it fits. A caller that keeps msg and buf inside a larger
// struct keeps the whole answer in one block of memory. msg must not be
// copied afterwards, nor buf's capacity reused.
func EncodeInto(msg *Message, buf []byte, m proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf[:0], m)
	if err != nil {
		return fmt.Errorf("wire: %w", err)
	}
	msg.buf = b
	msg.one[0] = &msg.buf
	msg.data = msg.one[:]
	return nil
}

// Bytes returns the encoding. The caller must not modify it.
func (m *Message) Bytes() []byte { return m.buf }

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
