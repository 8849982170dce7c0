package push

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/skewfree/skewfree/features"
)

// A RequestError is a mistake in the push request itself (unknown source or
// column, a value of the wrong type, ragged columns, a missing or future
// event time, too many rows): nothing was written, and retrying the same
// request cannot help. Its message names the column and row.
type RequestError struct{ msg string }

func (e *RequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &RequestError{msg: fmt.Sprintf(format, args...)}
}

// MaxRequestID is the longest request id accepted, in bytes.
const MaxRequestID = 256

// frame checks req against its source and returns its events as a frame of
// the source's fields, in definition order, with the event times in Time.
// now is the ingest time a new request would get: no event may be later.
func (p *Pusher) frame(req *Request, src *features.Source, fresh []*features.View, now int64) (*features.Frame, error) {
	if req.RequestID == "" {
		return nil, badRequest("push to %s: request_id (or the Idempotency-Key header) is required: it makes retries safe", src.Name)
	}
	if len(req.RequestID) > MaxRequestID {
		return nil, badRequest("push to %s: request_id has %d bytes, at most %d allowed", src.Name, len(req.RequestID), MaxRequestID)
	}
	names := make([]string, 0, len(req.Columns))
	for name := range req.Columns {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic messages
	for _, name := range names {
		if _, ok := src.Field(name); !ok && name != src.TimestampField {
			return nil, badRequest("push to %s: unknown column %q (the source has %s and its event time %s)", src.Name, name, fieldNames(src), src.TimestampField)
		}
	}
	times, ok := req.Columns[src.TimestampField]
	if !ok {
		return nil, badRequest("push to %s: missing event time column %q", src.Name, src.TimestampField)
	}
	n := len(times)
	if n == 0 {
		return nil, badRequest("push to %s: no rows", src.Name)
	}
	if n > p.opts.MaxRows {
		return nil, badRequest("push to %s: %d rows, at most %d per request", src.Name, n, p.opts.MaxRows)
	}
	for _, fd := range src.Fields {
		col, ok := req.Columns[fd.Name]
		if !ok {
			return nil, badRequest("push to %s: missing column %q (every field of the source is required; send nulls for unknown values)", src.Name, fd.Name)
		}
		if len(col) != n {
			return nil, badRequest("push to %s: column %q has %d values, %q has %d: every column needs one value per row", src.Name, fd.Name, len(col), src.TimestampField, n)
		}
	}
	f := &features.Frame{Time: make([]int64, n)}
	for i, v := range times {
		if v.IsNull() {
			return nil, badRequest("push to %s: column %q row %d: the event time is null", src.Name, src.TimestampField, i)
		}
		if v.Type() != features.Int64 {
			return nil, badRequest("push to %s: column %q row %d: want a timestamp, got %s", src.Name, src.TimestampField, i, v.Type())
		}
		if t := v.Int64(); t > now {
			return nil, badRequest("push to %s: column %q row %d: event time %s is after the ingest time %s (events from the future are refused)",
				src.Name, src.TimestampField, i, features.FromMicros(t).Format(time.RFC3339Nano), features.FromMicros(now).Format(time.RFC3339Nano))
		}
		f.Time[i] = v.Int64()
	}
	keys := map[string]bool{}
	for _, v := range fresh {
		keys[p.reg.EntityOf(v).JoinKey] = true
	}
	for _, fd := range src.Fields {
		c := features.NewColumn(fd.Name, fd.Type, n)
		for i, v := range req.Columns[fd.Name] {
			if v.IsNull() {
				if keys[fd.Name] {
					return nil, badRequest("push to %s: column %q row %d: the join key is null", src.Name, fd.Name, i)
				}
			} else if v.Type() != fd.Type {
				return nil, badRequest("push to %s: column %q row %d: want %s, got %s %s", src.Name, fd.Name, i, fd.Type, v.Type(), v)
			}
			if fd.Type == features.Float64 && !v.IsNull() && (math.IsNaN(v.Float64()) || math.IsInf(v.Float64(), 0)) {
				return nil, badRequest("push to %s: column %q row %d: %v is not a finite number", src.Name, fd.Name, i, v.Float64())
			}
			_ = c.Append(v) // type checked above
		}
		f.Columns = append(f.Columns, c)
	}
	return f, nil
}

func fieldNames(src *features.Source) string {
	s := ""
	for i, f := range src.Fields {
		if i > 0 {
			s += ", "
		}
		s += f.Name
	}
	return s
}

// digest is a hash of what a request carries (source, event times and
// every field's values in order), so that a retry of a request id can be
// told from a reuse of the id for other events.
func digest(source string, f *features.Frame) [sha256.Size]byte {
	h := sha256.New()
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(source)))
	b = append(b, source...)
	b = binary.AppendUvarint(b, uint64(f.Len()))
	for _, t := range f.Time {
		b = binary.BigEndian.AppendUint64(b, uint64(t))
	}
	h.Write(b)
	for _, c := range f.Columns {
		b = b[:0]
		b = binary.AppendUvarint(b, uint64(len(c.Name)))
		b = append(b, c.Name...)
		b = append(b, byte(c.Type))
		for i := range c.Valid {
			if !c.Valid[i] {
				b = append(b, 0)
				continue
			}
			b = append(b, 1)
			switch c.Type {
			case features.Int64:
				b = binary.BigEndian.AppendUint64(b, uint64(c.Ints[i]))
			case features.Float64:
				b = binary.BigEndian.AppendUint64(b, math.Float64bits(c.Floats[i]))
			case features.String:
				b = binary.AppendUvarint(b, uint64(len(c.Strings[i])))
				b = append(b, c.Strings[i]...)
			case features.Bool:
				if c.Bools[i] {
					b = append(b, 1)
				} else {
					b = append(b, 0)
				}
			}
			if len(b) > 1<<16 {
				h.Write(b)
				b = b[:0]
			}
		}
		h.Write(b)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
