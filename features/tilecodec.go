package features

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/axiomhq/hyperloglog"
)

// tileFormat is the version of TileState's binary encoding (the first
// byte). Decoding refuses other versions: a reader never misreads a tile
// written by another release.
const tileFormat = 1

// aggCodes number the aggregation kinds in encoded tiles.
var aggCodes = map[AggKind]byte{Count: 1, Sum: 2, Mean: 3, Min: 4, Max: 5, Last: 6, DistinctCount: 7}

// ErrTileState marks a tile state that cannot be decoded: corrupt, written
// by another format version, or for another definition of the view.
var ErrTileState = errors.New("bad tile state")

// MarshalBinary encodes s compactly: a format byte, then each aggregation's
// kind and state (counts and sums as varints, exact float sums as their
// partials, values with their type, distinct counts as sorted hash deltas
// or the dense sketch). See docs/format/fresh.md.
func (s *TileState) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 8+8*len(s.aggs))
	b = append(b, tileFormat)
	b = binary.AppendUvarint(b, uint64(len(s.aggs)))
	for i := range s.aggs {
		if s.view == nil || i >= len(s.view.Aggregations) {
			return nil, fmt.Errorf("tile state: not made by NewTileState or UnmarshalTileState")
		}
		a := &s.view.Aggregations[i]
		st := &s.aggs[i]
		b = append(b, aggCodes[a.Kind])
		switch a.Kind {
		case Count:
			b = binary.AppendUvarint(b, uint64(st.n))
		case Sum, Mean:
			b = binary.AppendUvarint(b, uint64(st.n))
			b = binary.AppendVarint(b, st.isum)
			b = appendExactSum(b, &st.exact)
		case Min, Max:
			b = appendBest(b, st.has, st.best)
		case Last:
			b = appendBest(b, st.has, st.best)
			if st.has {
				b = binary.AppendVarint(b, st.t)
			}
		case DistinctCount:
			d := &st.dist
			if d.sketch != nil {
				sk, err := d.sketch.MarshalBinary()
				if err != nil {
					return nil, fmt.Errorf("tile state: %s: %w", a.Name, err)
				}
				b = append(b, 1)
				b = binary.AppendUvarint(b, uint64(len(sk)))
				b = append(b, sk...)
				continue
			}
			b = append(b, 0)
			b = binary.AppendUvarint(b, uint64(len(d.hashes)))
			var prev uint64
			for _, h := range d.hashes {
				b = binary.AppendUvarint(b, h-prev)
				prev = h
			}
		}
	}
	return b, nil
}

func appendExactSum(b []byte, e *exactSum) []byte {
	if e.nonFinite {
		b = append(b, 1)
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(e.special))
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(e.partials)))
	for _, p := range e.partials {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p))
	}
	return b
}

func appendBest(b []byte, has bool, v Value) []byte {
	if !has || v.IsNull() {
		return append(b, 0)
	}
	b = append(b, byte(v.typ))
	switch v.typ {
	case Int64, Bool:
		return binary.AppendVarint(b, v.i)
	case Float64:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v.f))
	}
	b = binary.AppendUvarint(b, uint64(len(v.s)))
	return append(b, v.s...)
}

// UnmarshalTileState decodes a state of fresh view v written by
// MarshalBinary. Corrupt input, another format version or another
// definition of v (aggregation kinds or value types differ) is an error
// wrapping ErrTileState; it never panics.
func UnmarshalTileState(v *View, b []byte) (s *TileState, err error) {
	if v == nil || v.Fresh == nil {
		return nil, fmt.Errorf("%w: view is not fresh", ErrTileState)
	}
	defer func() {
		if p := recover(); p != nil { // the sketch library, on input we did not foresee
			s, err = nil, fmt.Errorf("%w: view %s: %v", ErrTileState, v.Name, p)
		}
	}()
	d := decoder{b: b}
	if f := d.byte(); d.err == nil && f != tileFormat {
		return nil, fmt.Errorf("%w: view %s: format %d unknown (this release reads %d)", ErrTileState, v.Name, f, tileFormat)
	}
	if n := d.uvarint(); d.err == nil && n != uint64(len(v.Aggregations)) {
		return nil, fmt.Errorf("%w: view %s: %d aggregations encoded, the view has %d", ErrTileState, v.Name, n, len(v.Aggregations))
	}
	s = NewTileState(v)
	for i := range v.Aggregations {
		if d.err != nil {
			break
		}
		a := &v.Aggregations[i]
		st := &s.aggs[i]
		if c := d.byte(); d.err == nil && c != aggCodes[a.Kind] {
			return nil, fmt.Errorf("%w: view %s: aggregation %s encoded as kind %d, want %s", ErrTileState, v.Name, a.Name, c, a.Kind)
		}
		switch a.Kind {
		case Count:
			st.n = d.count()
		case Sum, Mean:
			st.n = d.count()
			st.isum = d.varint()
			d.exactSum(&st.exact)
		case Min, Max:
			st.has, st.best = d.best(a.resultType)
		case Last:
			if st.has, st.best = d.best(a.resultType); st.has {
				st.t = d.varint()
			}
		case DistinctCount:
			d.distinct(&st.dist)
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: view %s: %w", ErrTileState, v.Name, d.err)
	}
	return s, nil
}

// decoder reads an encoded tile; the first error sticks and every later
// read returns zero.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad varint"))
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad varint"))
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) count() int64 {
	x := d.uvarint()
	if x > math.MaxInt64 {
		d.fail(errors.New("count out of range"))
		return 0
	}
	return int64(x)
}

func (d *decoder) float() float64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail(errShort)
		return 0
	}
	x := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return x
}

// length reads a length that must fit the remaining input at size bytes
// per item.
func (d *decoder) length(size int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/size) {
		d.fail(errShort)
		return 0
	}
	return int(n)
}

func (d *decoder) exactSum(e *exactSum) {
	switch d.byte() {
	case 0:
		n := d.length(8)
		for range n {
			p := d.float()
			if math.IsInf(p, 0) || math.IsNaN(p) {
				d.fail(errors.New("non-finite partial sum"))
				return
			}
			e.partials = append(e.partials, p)
		}
	case 1:
		e.nonFinite, e.special = true, d.float()
	default:
		d.fail(errors.New("bad sum flag"))
	}
}

func (d *decoder) best(want Type) (bool, Value) {
	t := Type(d.byte())
	if d.err != nil || t == Invalid {
		return false, Null
	}
	if t != want {
		d.fail(fmt.Errorf("value of type %s, want %s", t, want))
		return false, Null
	}
	switch t {
	case Int64:
		return true, IntValue(d.varint())
	case Bool:
		x := d.varint()
		if x != 0 && x != 1 {
			d.fail(errors.New("bad bool"))
		}
		return true, BoolValue(x == 1)
	case Float64:
		return true, FloatValue(d.float())
	}
	n := d.length(1)
	if d.err != nil {
		return false, Null
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return true, StringValue(s)
}

func (d *decoder) distinct(ds *distinctState) {
	switch d.byte() {
	case 0:
		n := d.length(1)
		if n > exactDistinct {
			d.fail(fmt.Errorf("%d exact distinct hashes, at most %d", n, exactDistinct))
			return
		}
		var h uint64
		for i := range n {
			delta := d.uvarint()
			if i > 0 && delta == 0 || h+delta < h {
				d.fail(errors.New("distinct hashes not increasing"))
				return
			}
			h += delta
			ds.hashes = append(ds.hashes, h)
		}
	case 1:
		n := d.length(1)
		if d.err != nil {
			return
		}
		raw := d.b[:n]
		d.b = d.b[n:]
		// Only what MarshalBinary writes: the library's version 2, our
		// precision, dense.
		if len(raw) < 4 || raw[0] != 2 || raw[1] != sketchPrecision || raw[3] != 0 {
			d.fail(errors.New("distinct sketch header unknown"))
			return
		}
		sk := &hyperloglog.Sketch{}
		if err := sk.UnmarshalBinary(bytes.Clone(raw)); err != nil {
			d.fail(fmt.Errorf("distinct sketch: %w", err))
			return
		}
		ds.sketch = sk
	default:
		d.fail(errors.New("bad distinct flag"))
	}
}
