package extauthz

import (
	"bytes"
	"testing"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func sampleResponse() *authv3.CheckResponse {
	return &authv3.CheckResponse{
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-partner-id", Value: "acme"}}},
		}},
		DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			"partner_id":    structpb.NewStringValue("acme"),
			"tier":          structpb.NewStringValue("gold"),
			"credential_id": structpb.NewStringValue("AbCdEfGhIjKl"),
		}},
	}
}

// A Message goes out as its own bytes, uncopied, every time.
func TestCodecSendsAMessageAsItIs(t *testing.T) {
	m, err := encode(sampleResponse())
	if err != nil {
		t.Fatal(err)
	}
	c := newCodec()
	for range 2 {
		out, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := out.Materialize()
		if !bytes.Equal(got, m.Bytes()) {
			t.Fatalf("sent %x, want %x", got, m.Bytes())
		}
		if len(out) != 1 || unsafe.SliceData(out[0].ReadOnlyData()) != unsafe.SliceData(m.Bytes()) {
			t.Error("the encoding was copied")
		}
		out.Free() // as grpc-go does once the bytes are written
	}
	var decoded authv3.CheckResponse
	if err := proto.Unmarshal(m.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&decoded, sampleResponse()) {
		t.Errorf("decoded %v, want %v", &decoded, sampleResponse())
	}
}

// EncodeInto encodes into the caller's buffer when it has room, and the
// codec sends those very bytes; without room it encodes elsewhere, the
// same bytes.
func TestEncodeIntoTheCallersBuffer(t *testing.T) {
	want, err := encode(sampleResponse())
	if err != nil {
		t.Fatal(err)
	}
	var room struct {
		msg encoded
		buf [512]byte
	}
	if err := encodeInto(&room.msg, room.buf[:], sampleResponse()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(room.msg.Bytes(), want.Bytes()) {
		t.Fatalf("EncodeInto gave %x, want %x", room.msg.Bytes(), want.Bytes())
	}
	if unsafe.SliceData(room.msg.Bytes()) != &room.buf[0] {
		t.Error("the encoding is not in the buffer given")
	}
	out, err := newCodec().Marshal(&room.msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || unsafe.SliceData(out[0].ReadOnlyData()) != &room.buf[0] {
		t.Error("the codec did not send the buffer's bytes")
	}
	out.Free()

	var small [8]byte
	var msg encoded
	if err := encodeInto(&msg, small[:], sampleResponse()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg.Bytes(), want.Bytes()) {
		t.Errorf("without room: %x, want %x", msg.Bytes(), want.Bytes())
	}
}

// Every other message, and every message received, is the proto codec's.
func TestCodecIsTheProtoCodecOtherwise(t *testing.T) {
	c := newCodec()
	if c.Name() != protocodec.Name {
		t.Errorf("Name = %q, want %q", c.Name(), protocodec.Name)
	}
	out, err := c.Marshal(sampleResponse())
	if err != nil {
		t.Fatal(err)
	}
	var decoded authv3.CheckResponse
	if err := c.Unmarshal(out, &decoded); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&decoded, sampleResponse()) {
		t.Errorf("round trip gave %v, want %v", &decoded, sampleResponse())
	}
	for _, v := range []any{(*encoded)(nil), "not a message"} {
		if _, err := c.Marshal(v); err == nil {
			t.Errorf("Marshal(%T) succeeded; want the proto codec's error", v)
		}
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer{0xff}}, &decoded); err == nil {
		t.Error("Unmarshal of garbage succeeded")
	}
	if encoding.GetCodecV2(protocodec.Name) == nil {
		t.Fatal("the proto codec is not registered")
	}
}

// The same message always encodes to the same bytes, map and all.
func TestEncodeIsDeterministic(t *testing.T) {
	first, err := encode(sampleResponse())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := encode(sampleResponse())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), first.Bytes()) {
			t.Fatalf("encodings differ: %x and %x", again.Bytes(), first.Bytes())
		}
	}
}

// A message proto cannot encode is refused, not half-encoded.
func TestEncodeRefusesInvalidMessages(t *testing.T) {
	bad := &authv3.CheckResponse{DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("\xff")}}}
	if m, err := encode(bad); err == nil {
		t.Errorf("Encode of invalid UTF-8 = %x; want an error", m.Bytes())
	}
}
