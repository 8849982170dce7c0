package bqjoin

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

// TestWriteNDJSON: what a load job reads must be exact: microseconds,
// every int64 (quoted), nulls, escaped strings.
func TestWriteNDJSON(t *testing.T) {
	ts := features.NewColumn(EventTimestamp, features.Int64, 0)
	_ = ts.Append(features.IntValue(features.Micros(time.Date(2026, 11, 1, 2, 3, 4, 5000, time.UTC))))
	_ = ts.Append(features.IntValue(features.Micros(time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC))))
	ints := features.NewColumn("id", features.Int64, 0)
	_ = ints.Append(features.IntValue(math.MaxInt64))
	_ = ints.Append(features.Null)
	strs := features.NewColumn("s", features.String, 0)
	_ = strs.Append(features.StringValue("a\"b\n"))
	_ = strs.Append(features.Null)
	fl := features.NewColumn("f", features.Float64, 0)
	_ = fl.Append(features.FloatValue(0.1))
	_ = fl.Append(features.FloatValue(math.Inf(-1)))
	bl := features.NewColumn("b", features.Bool, 0)
	_ = bl.Append(features.BoolValue(true))
	_ = bl.Append(features.Null)
	var buf bytes.Buffer
	if err := writeNDJSON(&buf, []uploadCol{{col: ts, isTime: true}, {col: ints}, {col: strs}, {col: fl}, {col: bl}}, 2); err != nil {
		t.Fatal(err)
	}
	want := `{"event_timestamp":"2026-11-01 02:03:04.000005","id":"9223372036854775807","s":"a\"b\n","f":0.1,"b":true}
{"event_timestamp":"1969-12-31 23:59:59.999999","id":null,"s":null,"f":"-Infinity","b":null}
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
