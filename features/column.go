package features

import "fmt"

// Column is one named, typed, nullable column. Only the slice of its Type is
// used; Valid has one entry per row. Columns (not rows of Values) are the unit
// of exchange between the transform, the stores and the join, because that is
// how Parquet and BigQuery hold data and it keeps the hot loops free of boxing.
type Column struct {
	Name    string
	Type    Type
	Ints    []int64 // Int64
	Floats  []float64
	Strings []string
	Bools   []bool
	Valid   []bool
}

// NewColumn returns an empty column with room for n rows.
func NewColumn(name string, t Type, n int) *Column {
	c := &Column{Name: name, Type: t, Valid: make([]bool, 0, n)}
	switch t {
	case Int64:
		c.Ints = make([]int64, 0, n)
	case Float64:
		c.Floats = make([]float64, 0, n)
	case String:
		c.Strings = make([]string, 0, n)
	case Bool:
		c.Bools = make([]bool, 0, n)
	}
	return c
}

// NewNullColumn returns a column of n nulls, ready for Set.
func NewNullColumn(name string, t Type, n int) *Column {
	c := &Column{Name: name, Type: t, Valid: make([]bool, n)}
	switch t {
	case Int64:
		c.Ints = make([]int64, n)
	case Float64:
		c.Floats = make([]float64, n)
	case String:
		c.Strings = make([]string, n)
	case Bool:
		c.Bools = make([]bool, n)
	}
	return c
}

func (c *Column) Len() int { return len(c.Valid) }

// Value returns row i as a Value.
func (c *Column) Value(i int) Value {
	if !c.Valid[i] {
		return Null
	}
	switch c.Type {
	case Int64:
		return IntValue(c.Ints[i])
	case Float64:
		return FloatValue(c.Floats[i])
	case String:
		return StringValue(c.Strings[i])
	case Bool:
		return BoolValue(c.Bools[i])
	}
	return Null
}

// Append adds v, which must be null or of the column's type.
func (c *Column) Append(v Value) error {
	if !v.IsNull() && v.Type() != c.Type {
		return fmt.Errorf("column %s: cannot append %s value to %s column", c.Name, v.Type(), c.Type)
	}
	c.Valid = append(c.Valid, !v.IsNull())
	switch c.Type {
	case Int64:
		c.Ints = append(c.Ints, v.i)
	case Float64:
		c.Floats = append(c.Floats, v.f)
	case String:
		c.Strings = append(c.Strings, v.s)
	case Bool:
		c.Bools = append(c.Bools, v.i != 0)
	}
	return nil
}

// Set stores v at row i; v must be null or of the column's type.
func (c *Column) Set(i int, v Value) error {
	if !v.IsNull() && v.Type() != c.Type {
		return fmt.Errorf("column %s: cannot set %s value in %s column", c.Name, v.Type(), c.Type)
	}
	c.Valid[i] = !v.IsNull()
	switch c.Type {
	case Int64:
		c.Ints[i] = v.i
	case Float64:
		c.Floats[i] = v.f
	case String:
		c.Strings[i] = v.s
	case Bool:
		c.Bools[i] = v.i != 0
	}
	return nil
}

// CopyRow sets row i of c to row j of src, which must have the same type.
func (c *Column) CopyRow(i int, src *Column, j int) {
	c.Valid[i] = src.Valid[j]
	switch c.Type {
	case Int64:
		c.Ints[i] = src.Ints[j]
	case Float64:
		c.Floats[i] = src.Floats[j]
	case String:
		c.Strings[i] = src.Strings[j]
	case Bool:
		c.Bools[i] = src.Bools[j]
	}
}

// AppendRow appends row j of src, which must have the same type.
func (c *Column) AppendRow(src *Column, j int) {
	c.Valid = append(c.Valid, src.Valid[j])
	switch c.Type {
	case Int64:
		c.Ints = append(c.Ints, src.Ints[j])
	case Float64:
		c.Floats = append(c.Floats, src.Floats[j])
	case String:
		c.Strings = append(c.Strings, src.Strings[j])
	case Bool:
		c.Bools = append(c.Bools, src.Bools[j])
	}
}

// AppendColumn appends every row of src, which must have the same type.
func (c *Column) AppendColumn(src *Column) {
	c.Valid = append(c.Valid, src.Valid...)
	switch c.Type {
	case Int64:
		c.Ints = append(c.Ints, src.Ints...)
	case Float64:
		c.Floats = append(c.Floats, src.Floats...)
	case String:
		c.Strings = append(c.Strings, src.Strings...)
	case Bool:
		c.Bools = append(c.Bools, src.Bools...)
	}
}

// Key is an entity key: an int64 or a string, by the entity's KeyType.
type Key struct {
	Int int64
	Str string
}

// KeyAt returns row i of a key column.
func (c *Column) KeyAt(i int) Key {
	if c.Type == String {
		return Key{Str: c.Strings[i]}
	}
	return Key{Int: c.Ints[i]}
}

// Frame is a batch of timestamped rows for one entity type: raw source events
// (Created nil) or computed feature rows. Times are microseconds since the Unix
// epoch, UTC.
type Frame struct {
	Key     *Column   // the entity join key; nil in raw source frames
	Time    []int64   // event time (source) or event_timestamp (features)
	Created []int64   // created_timestamp; nil for raw events
	Columns []*Column // the other columns, in order
}

func (f *Frame) Len() int { return len(f.Time) }

// Column returns the named column or nil.
func (f *Frame) Column(name string) *Column {
	for _, c := range f.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Take returns a new frame holding rows of f, in the order given.
func (f *Frame) Take(rows []int) *Frame {
	out := &Frame{Time: make([]int64, len(rows))}
	if f.Key != nil {
		out.Key = NewColumn(f.Key.Name, f.Key.Type, len(rows))
	}
	if f.Created != nil {
		out.Created = make([]int64, len(rows))
	}
	for _, c := range f.Columns {
		out.Columns = append(out.Columns, NewColumn(c.Name, c.Type, len(rows)))
	}
	for i, r := range rows {
		out.Time[i] = f.Time[r]
		if out.Created != nil {
			out.Created[i] = f.Created[r]
		}
		if out.Key != nil {
			out.Key.AppendRow(f.Key, r)
		}
		for k, c := range out.Columns {
			c.AppendRow(f.Columns[k], r)
		}
	}
	return out
}

// Append adds every row of g, whose columns must match f's.
func (f *Frame) Append(g *Frame) {
	f.Time = append(f.Time, g.Time...)
	if g.Created != nil {
		f.Created = append(f.Created, g.Created...)
	}
	if f.Key != nil {
		f.Key.AppendColumn(g.Key)
	}
	for k, c := range f.Columns {
		c.AppendColumn(g.Columns[k])
	}
}

// Validate checks that every column has one entry per row.
func (f *Frame) Validate() error {
	n := len(f.Time)
	if f.Key != nil && f.Key.Len() != n {
		return fmt.Errorf("frame: key column %s has %d rows, want %d", f.Key.Name, f.Key.Len(), n)
	}
	if f.Created != nil && len(f.Created) != n {
		return fmt.Errorf("frame: created_timestamp has %d rows, want %d", len(f.Created), n)
	}
	for _, c := range f.Columns {
		if c.Len() != n {
			return fmt.Errorf("frame: column %s has %d rows, want %d", c.Name, c.Len(), n)
		}
	}
	return nil
}
