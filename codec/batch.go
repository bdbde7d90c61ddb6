package codec

import "fmt"

// Form is the shape of a message, told by its first byte alone.
type Form uint8

const (
	// FormUnknown is anything else: empty input, or a first byte that
	// starts neither a map nor an array.
	FormUnknown Form = iota
	// FormEnvelope is a single envelope: a CBOR map, first byte
	// 0xa0..0xbb.
	FormEnvelope
	// FormBatch is a batch of envelopes: a CBOR array, first byte
	// 0x80..0x9b.
	FormBatch
)

// String returns "envelope", "batch" or "unknown".
func (f Form) String() string {
	switch f {
	case FormEnvelope:
		return "envelope"
	case FormBatch:
		return "batch"
	}
	return "unknown"
}

// Detect tells from the first byte of data whether it is a single envelope
// (decode it with DecodeEnvelope), a batch (DecodeBatch) or neither. It does
// not validate the rest: the decoders do.
func Detect(data []byte) Form {
	if len(data) == 0 {
		return FormUnknown
	}
	switch b := data[0]; {
	case b >= 0xa0 && b <= 0xbb:
		return FormEnvelope
	case b >= 0x80 && b <= 0x9b:
		return FormBatch
	}
	return FormUnknown
}

// EncodeBatch encodes several envelopes as one message: a CBOR array of
// envelope maps, in the order given. Errors are those of EncodeEnvelope,
// naming the envelope's index; ErrTooLarge when the batch exceeds
// MaxMessageBytes or MaxArrayElements.
func (c *Codec) EncodeBatch(envs []Envelope) ([]byte, error) {
	return c.AppendBatch(nil, envs)
}

// AppendBatch is EncodeBatch appending to dst; on error dst is returned
// unchanged.
func (c *Codec) AppendBatch(dst []byte, envs []Envelope) ([]byte, error) {
	if len(envs) > c.limits.MaxArrayElements {
		return dst, fmt.Errorf("shoal/codec: encode batch: %w: %d envelopes, limit %d", ErrTooLarge, len(envs), c.limits.MaxArrayElements)
	}
	size := headSize(uint64(len(envs)))
	for i := range envs {
		e := &envs[i]
		if err := e.check(); err != nil {
			return dst, fmt.Errorf("shoal/codec: encode batch: envelope %d: %w", i, err)
		}
		size += e.size()
	}
	if size > c.limits.MaxMessageBytes {
		return dst, fmt.Errorf("shoal/codec: encode batch: %w: %d bytes, limit %d", ErrTooLarge, size, c.limits.MaxMessageBytes)
	}
	if cap(dst)-len(dst) < size {
		grown := make([]byte, len(dst), len(dst)+size)
		copy(grown, dst)
		dst = grown
	}
	dst = appendHead(dst, majorArray, uint64(len(envs)))
	for i := range envs {
		dst = appendEnvelope(dst, &envs[i])
	}
	return dst, nil
}

// DecodeBatch decodes a message made by EncodeBatch. It is all or nothing:
// if any envelope fails to decode (including an unknown version), it
// returns nil and an error naming that envelope's index, wrapping the same
// sentinels as DecodeEnvelope. The payloads alias data, as with
// DecodeEnvelope. An empty batch decodes to an empty, non-nil slice.
func (c *Codec) DecodeBatch(data []byte) ([]Envelope, error) {
	r, n, err := c.batchHead(data)
	if err != nil {
		return nil, err
	}
	// Grow as envelopes decode rather than trusting n: an Envelope is
	// about 20 times the size of the smallest encoded one.
	envs := make([]Envelope, 0, min(n, 64))
	var prev *Envelope
	for i := range n {
		e, err := decodeEnvelope(&r, prev)
		if err != nil {
			return nil, fmt.Errorf("shoal/codec: decode batch: envelope %d of %d: %w", i, n, err)
		}
		envs = append(envs, e)
		prev = &envs[len(envs)-1]
	}
	if r.off != len(data) {
		return nil, fmt.Errorf("shoal/codec: decode batch: %w", malformed(r.off, "%d bytes of trailing data", len(data)-r.off))
	}
	return envs, nil
}

// DecodeBatchEach decodes a message made by EncodeBatch one envelope at a
// time, handing each to fn as soon as it is decoded, for a receiver that
// takes envelopes independently of each other. It builds no slice of the
// batch's envelopes: for a burst of 5,000, DecodeBatch's growing slice
// was a tenth of a receiver's CPU. fn must not keep e, which is reused,
// nor e.Payload, which aliases data. Unlike DecodeBatch it is not all or
// nothing: on an envelope that fails to decode it returns the error (as
// DecodeBatch would) after fn has taken the envelopes before it. The
// whole message is checked to be well-formed CBOR first.
func (c *Codec) DecodeBatchEach(data []byte, fn func(e *Envelope)) error {
	r, n, err := c.batchHead(data)
	if err != nil {
		return err
	}
	var e Envelope
	for i := range n {
		if e, err = decodeEnvelope(&r, &e); err != nil {
			return fmt.Errorf("shoal/codec: decode batch: envelope %d of %d: %w", i, n, err)
		}
		fn(&e)
	}
	if r.off != len(data) {
		return fmt.Errorf("shoal/codec: decode batch: %w", malformed(r.off, "%d bytes of trailing data", len(data)-r.off))
	}
	return nil
}

// batchHead checks that data is well formed and a batch, and returns a
// reader past the batch's head and its number of envelopes.
func (c *Codec) batchHead(data []byte) (reader, int, error) {
	if err := c.wellformed("decode batch", data); err != nil {
		return reader{}, 0, err
	}
	r := reader{data: data}
	h, err := r.head()
	if err != nil {
		return r, 0, fmt.Errorf("shoal/codec: decode batch: %w", err)
	}
	if h.major != majorArray {
		return r, 0, fmt.Errorf("shoal/codec: decode batch: %w", malformed(h.at, "batch must be an array, got %s", majorName(h.major)))
	}
	n, err := r.count(h, minEnvelopeBytes)
	if err != nil {
		return r, 0, fmt.Errorf("shoal/codec: decode batch: %w", err)
	}
	return r, n, nil
}

// BatchSize returns the size of a batch of n envelopes whose encodings
// total envelopeBytes: the array head plus the envelopes. It lets a sender
// pack envelopes encoded once (EncodeEnvelope) into packets of a byte
// budget without encoding a candidate batch.
func BatchSize(n, envelopeBytes int) int {
	return headSize(uint64(n)) + envelopeBytes
}

// AppendEncodedBatch appends a batch made of envelopes already encoded by
// EncodeEnvelope (or AppendEnvelope): the array head, then each envelope's
// bytes unchanged, so that packing costs a copy, not an encoding. Each
// element must be one envelope map; the error wraps ErrMalformed for one
// that does not start with a map head (an empty slice, or a batch), and
// ErrTooLarge when the batch exceeds MaxMessageBytes or MaxArrayElements.
// The envelopes' contents are not re-checked: the receiver's DecodeBatch
// does that. On error dst is returned unchanged.
func (c *Codec) AppendEncodedBatch(dst []byte, envs [][]byte) ([]byte, error) {
	if len(envs) > c.limits.MaxArrayElements {
		return dst, fmt.Errorf("shoal/codec: encode batch: %w: %d envelopes, limit %d", ErrTooLarge, len(envs), c.limits.MaxArrayElements)
	}
	total := 0
	for i, e := range envs {
		if Detect(e) != FormEnvelope || len(e) < minEnvelopeBytes {
			return dst, fmt.Errorf("shoal/codec: encode batch: %w: element %d is not an encoded envelope", ErrMalformed, i)
		}
		total += len(e)
	}
	size := BatchSize(len(envs), total)
	if size > c.limits.MaxMessageBytes {
		return dst, fmt.Errorf("shoal/codec: encode batch: %w: %d bytes, limit %d", ErrTooLarge, size, c.limits.MaxMessageBytes)
	}
	if cap(dst)-len(dst) < size {
		grown := make([]byte, len(dst), len(dst)+size)
		copy(grown, dst)
		dst = grown
	}
	dst = appendHead(dst, majorArray, uint64(len(envs)))
	for _, e := range envs {
		dst = append(dst, e...)
	}
	return dst, nil
}
