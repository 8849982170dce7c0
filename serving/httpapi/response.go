package httpapi

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
)

// epoch is what Feast reports as the event_timestamp of join key columns
// and of values that were not found.
const epoch = "1970-01-01T00:00:00Z"

// appendResponse writes Feast's response JSON by hand: it is the hot path
// of the service, and encoding/json would box every value.
//
//	{"metadata": {"feature_names": ["user_id", "spend_30d", ...]},
//	 "results": [{"values": [...], "statuses": [...], "event_timestamps": [...]}, ...]}
//
// One result per column, join key columns first.
func appendResponse(b []byte, req *Request, res *serving.Result) []byte {
	b = append(b, `{"metadata":{"feature_names":[`...)
	for i, k := range res.JoinKeys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
	}
	for i, f := range res.Features {
		if i > 0 || len(res.JoinKeys) > 0 {
			b = append(b, ',')
		}
		// Registry names are [a-z0-9_]: no escaping needed.
		b = append(b, '"')
		if req.FullFeatureNames {
			b = append(b, f.View...)
			b = append(b, "__"...)
		}
		b = append(b, f.Feature...)
		b = append(b, '"')
	}
	b = append(b, `]},"results":[`...)
	rows := len(res.Rows)
	var ts lastTime
	for k, jk := range res.JoinKeys {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"values":[`...)
		for i, v := range req.Entities[jk] {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, v)
		}
		b = append(b, `],"statuses":[`...)
		b = appendRepeated(b, `"PRESENT"`, rows)
		b = append(b, `],"event_timestamps":[`...)
		b = appendRepeated(b, `"`+epoch+`"`, rows)
		b = append(b, "]}"...)
	}
	for j := range res.Features {
		if j > 0 || len(res.JoinKeys) > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"values":[`...)
		for i := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, res.Rows[i][j].Value)
		}
		b = append(b, `],"statuses":[`...)
		for i := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, res.Rows[i][j].Status.String()...)
			b = append(b, '"')
		}
		b = append(b, `],"event_timestamps":[`...)
		for i := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = ts.append(b, res.Rows[i][j].EventTime)
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...)
}

func appendRepeated(b []byte, s string, n int) []byte {
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	return b
}

// lastTime formats event timestamps, reusing the previous one's text: the
// features of one view share their row's timestamp, and formatting was a
// visible part of the handler's profile.
type lastTime struct {
	t    time.Time
	text []byte // "" before the first
	buf  [40]byte
}

func (l *lastTime) append(b []byte, t time.Time) []byte {
	if l.text == nil || !t.Equal(l.t) || t.IsZero() != l.t.IsZero() {
		l.t = t
		l.text = appendTime(l.buf[:0], t)
	}
	return append(b, l.text...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, `"`+epoch+`"`...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendValue writes a value as a JSON scalar. NaN and ±Inf have no JSON
// form and become null.
func appendValue(b []byte, v features.Value) []byte {
	switch v.Type() {
	case features.Int64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case features.Float64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case features.String:
		return appendString(b, v.Str())
	case features.Bool:
		return strconv.AppendBool(b, v.Bool())
	}
	return append(b, "null"...)
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
