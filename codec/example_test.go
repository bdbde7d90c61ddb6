package codec_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

func ExampleCodec_EncodeEnvelope() {
	c := codec.Default()
	payload, err := c.Marshal(map[string]uint64{"node-a#1": 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg, err := c.EncodeEnvelope(&codec.Envelope{
		Kind:    codec.KindDelta,
		Name:    "hits",
		Type:    "*crdt.GCounter",
		Origin:  crdt.Replica{Node: "node-a", Incarnation: 1},
		Seq:     7,
		Payload: payload,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(codec.Detect(msg), len(msg), "bytes")

	env, err := c.DecodeEnvelope(msg)
	if err != nil {
		fmt.Println(err)
		return
	}
	var slots map[string]uint64
	if err := c.UnmarshalPayload(&env, &slots); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(env.Version, env.Kind, env.Name, env.Type, env.Origin, env.Seq, slots)
	// Output:
	// envelope 52 bytes
	// 1 delta hits *crdt.GCounter node-a#1 7 map[node-a#1:3]
}

func ExampleCodec_DecodeEnvelope_unknownVersion() {
	// {1: 2, 2: 1}: an envelope from a future protocol version.
	_, err := codec.Default().DecodeEnvelope([]byte{0xa2, 0x01, 0x02, 0x02, 0x01})
	fmt.Println(errors.Is(err, codec.ErrVersion))
	fmt.Println(err)
	// Output:
	// true
	// shoal/codec: decode envelope: shoal/codec: unsupported protocol version 2 (this build reads [1])
}

func ExampleCodec_EncodeBatch() {
	c := codec.Default()
	msg, err := c.EncodeBatch([]codec.Envelope{
		{Kind: codec.KindDelta, Name: "hits", Payload: []byte{0x01}},
		{Kind: codec.KindState, Name: "limits", Payload: []byte{0x02}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	switch codec.Detect(msg) {
	case codec.FormBatch:
		envs, err := c.DecodeBatch(msg)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range envs {
			fmt.Println(e.Kind, e.Name, e.Payload)
		}
	case codec.FormEnvelope:
		fmt.Println("single envelope")
	default:
		fmt.Println("not a shoal message")
	}
	// Output:
	// delta hits [1]
	// state limits [2]
}

func ExampleDetect() {
	fmt.Println(codec.Detect([]byte{0xa2, 0x01, 0x01, 0x02, 0x01}))
	fmt.Println(codec.Detect([]byte{0x80}))
	fmt.Println(codec.Detect([]byte("hello")))
	// Output:
	// envelope
	// batch
	// unknown
}

func ExampleCodec_EncodeAny() {
	c, reg := codec.Default(), codec.NewRegistry()
	for _, v := range []any{
		int64(42),
		uint64(42),
		42,
		[]string{"a", "b"},
		map[string]any{"n": int64(1), "at": time.Unix(0, 5).UTC()},
		nil,
	} {
		data, err := c.EncodeAny(reg, v)
		if err != nil {
			fmt.Println(err)
			return
		}
		got, err := c.DecodeAny(reg, data)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%T %v\n", got, got)
	}
	// Output:
	// int64 42
	// uint64 42
	// int 42
	// []string [a b]
	// map[string]interface {} map[at:1970-01-01 00:00:00.000000005 +0000 UTC n:1]
	// <nil> <nil>
}

// Route is a user type shared through the typed-value API.
type Route struct {
	Host    string `cbor:"1,keyasint"`
	Backend string `cbor:"2,keyasint"`
}

func ExampleRegistry_Register() {
	c, reg := codec.Default(), codec.NewRegistry()
	if err := reg.Register("example.Route", Route{}); err != nil {
		fmt.Println(err)
		return
	}
	data, err := c.EncodeAny(reg, []any{Route{Host: "a.example", Backend: "10.0.0.1"}, int64(3)})
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := c.DecodeAny(reg, data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%#v\n", got)

	_, err = c.EncodeAny(codec.NewRegistry(), Route{})
	fmt.Println(errors.Is(err, codec.ErrUnregisteredType), err)
	// Output:
	// []interface {}{codec_test.Route{Host:"a.example", Backend:"10.0.0.1"}, 3}
	// true shoal/codec: encode codec_test.Route: shoal/codec: unregistered type: Go type codec_test.Route (register it with Registry.Register)
}

func ExampleNew() {
	l := codec.DefaultLimits()
	l.MaxMessageBytes = 64 << 10 // one message must fit in 64 KiB
	c, err := codec.New(l)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.EncodeEnvelope(&codec.Envelope{Kind: codec.KindState, Payload: make([]byte, 70<<10)})
	fmt.Println(errors.Is(err, codec.ErrTooLarge))

	_, err = codec.New(codec.Limits{})
	fmt.Println(err)
	// Output:
	// true
	// shoal/codec: invalid limits: MaxMessageBytes 0 is below 64
}

func ExampleCodec_Unmarshal() {
	type state struct {
		Slots map[string]uint64 `cbor:"1,keyasint"`
	}
	c := codec.Default()
	data, err := c.Marshal(state{Slots: map[string]uint64{"b": 2, "a": 1}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%x\n", data) // keys sorted: deterministic bytes

	var s state
	err = c.Unmarshal([]byte{0xa1, 0x01, 0x61, 'x'}, &s) // {1: "x"}
	fmt.Println(errors.Is(err, codec.ErrTypeMismatch))
	// Output:
	// a101a2616101616202
	// true
}
