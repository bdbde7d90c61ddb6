package swarm

import (
	"slices"

	"github.com/shoal-go/shoal/codec"
)

// directBatch collects the fast-path envelopes of one flush, each encoded
// once into one buffer.
type directBatch struct {
	buf  []byte
	ends []int // end offset in buf of each envelope
}

func (b *directBatch) add(c *codec.Codec, env *codec.Envelope) error {
	// AppendEnvelope grows dst to fit exactly; growing here by append's
	// doubling keeps a flush of many values linear.
	need := len(env.Payload) + len(env.Name) + len(env.Type) + len(env.Origin.Node) + 64
	buf, err := c.AppendEnvelope(slices.Grow(b.buf, need), env)
	if err != nil {
		return err
	}
	b.buf = buf
	b.ends = append(b.ends, len(buf))
	return nil
}

// envelopes returns the encoded envelopes, aliasing the buffer.
func (b *directBatch) envelopes() [][]byte {
	out := make([][]byte, len(b.ends))
	start := 0
	for i, end := range b.ends {
		out[i] = b.buf[start:end:end]
		start = end
	}
	return out
}

// pack packs encoded envelopes greedily, in order, into packets of at most
// max bytes: a packet of one envelope is that envelope, a packet of several
// is a batch (codec.AppendEncodedBatch copies them behind an array head).
// Envelopes larger than max come back in large, for the reliable stream.
// It is linear in the number of envelopes: each is measured once and
// copied once.
func pack(c *codec.Codec, envs [][]byte, max int) (packets, large [][]byte, err error) {
	var cur [][]byte
	size := 0
	emit := func() error {
		switch len(cur) {
		case 0:
			return nil
		case 1:
			packets = append(packets, cur[0])
		default:
			b, err := c.AppendEncodedBatch(make([]byte, 0, codec.BatchSize(len(cur), size)), cur)
			if err != nil {
				return err
			}
			packets = append(packets, b)
		}
		cur, size = cur[:0], 0
		return nil
	}
	for _, e := range envs {
		if len(e) > max {
			large = append(large, e)
			continue
		}
		if len(cur) > 0 && codec.BatchSize(len(cur)+1, size+len(e)) > max {
			if err := emit(); err != nil {
				return nil, nil, err
			}
		}
		cur = append(cur, e)
		size += len(e)
	}
	if err := emit(); err != nil {
		return nil, nil, err
	}
	return packets, large, nil
}
