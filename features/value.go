// Package features holds Skewfree's model: entities, sources, feature views and
// their transforms, the registry, and the point-in-time join. It is pure — no
// network, no Temporal, no files — so that the one transform every pipeline
// runs can be called the same way from a scheduled run, a backfill and a test.
package features

import (
	"fmt"
	"math"
	"strconv"
)

// Type is a feature or column value type. The set is deliberately small: it is
// what Parquet, BigQuery, Redis and Feast's JSON all represent without loss.
type Type uint8

const (
	// Invalid is the zero Type; no column may have it.
	Invalid Type = iota
	Int64
	Float64
	String
	Bool
)

// String returns the name used in the catalog and in error messages.
func (t Type) String() string {
	switch t {
	case Int64:
		return "int64"
	case Float64:
		return "float64"
	case String:
		return "string"
	case Bool:
		return "bool"
	}
	return "invalid(" + strconv.Itoa(int(t)) + ")"
}

// ParseType is the inverse of Type.String.
func ParseType(s string) (Type, error) {
	switch s {
	case "int64":
		return Int64, nil
	case "float64":
		return Float64, nil
	case "string":
		return String, nil
	case "bool":
		return Bool, nil
	}
	return Invalid, fmt.Errorf("unknown type %q (want int64, float64, string or bool)", s)
}

// MarshalText lets types appear by name in JSON.
func (t Type) MarshalText() ([]byte, error) {
	if t == Invalid || t > Bool {
		return nil, fmt.Errorf("cannot marshal %s", t)
	}
	return []byte(t.String()), nil
}

// UnmarshalText parses a type name.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	*t = v
	return err
}

// Value is one nullable, typed scalar. The zero Value is null.
type Value struct {
	typ Type
	i   int64 // int64 and bool (0/1)
	f   float64
	s   string
}

// Null is the null value.
var Null = Value{}

func IntValue(v int64) Value     { return Value{typ: Int64, i: v} }
func FloatValue(v float64) Value { return Value{typ: Float64, f: v} }
func StringValue(v string) Value { return Value{typ: String, s: v} }
func BoolValue(v bool) Value {
	if v {
		return Value{typ: Bool, i: 1}
	}
	return Value{typ: Bool}
}

// Type is Invalid for null.
func (v Value) Type() Type       { return v.typ }
func (v Value) IsNull() bool     { return v.typ == Invalid }
func (v Value) Int64() int64     { return v.i }
func (v Value) Float64() float64 { return v.f }
func (v Value) Str() string      { return v.s }
func (v Value) Bool() bool       { return v.i != 0 }

// Any returns nil, int64, float64, string or bool.
func (v Value) Any() any {
	switch v.typ {
	case Int64:
		return v.i
	case Float64:
		return v.f
	case String:
		return v.s
	case Bool:
		return v.i != 0
	}
	return nil
}

// String formats the value for messages and tests.
func (v Value) String() string {
	switch v.typ {
	case Int64:
		return strconv.FormatInt(v.i, 10)
	case Float64:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case String:
		return strconv.Quote(v.s)
	case Bool:
		return strconv.FormatBool(v.i != 0)
	}
	return "null"
}

// Equal reports whether two values are the same; NaN equals NaN so that
// round-trip tests can compare values.
func (v Value) Equal(o Value) bool {
	if v.typ != o.typ {
		return false
	}
	switch v.typ {
	case Float64:
		return v.f == o.f || (math.IsNaN(v.f) && math.IsNaN(o.f))
	case String:
		return v.s == o.s
	}
	return v.i == o.i
}

// Compare orders two non-null values of the same type (-1, 0, +1). Numbers
// of different types compare numerically so filters can use int literals on
// float columns.
func (v Value) Compare(o Value) (int, error) {
	switch {
	case v.typ == o.typ:
		switch v.typ {
		case Int64, Bool:
			return cmpOrdered(v.i, o.i), nil
		case Float64:
			return cmpOrdered(v.f, o.f), nil
		case String:
			return cmpOrdered(v.s, o.s), nil
		}
	case v.typ == Int64 && o.typ == Float64:
		return cmpOrdered(float64(v.i), o.f), nil
	case v.typ == Float64 && o.typ == Int64:
		return cmpOrdered(v.f, float64(o.i)), nil
	}
	return 0, fmt.Errorf("cannot compare %s with %s", v.typ, o.typ)
}

func cmpOrdered[T int64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
