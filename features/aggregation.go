package features

import (
	"fmt"
	"time"
)

// AggKind names a declarative aggregation.
type AggKind string

const (
	Count         AggKind = "count"          // events in the window (int64); 0 when none
	Sum           AggKind = "sum"            // of non-null values; 0 when none; int64 or float64
	Mean          AggKind = "mean"           // float64; null when no non-null value
	Min           AggKind = "min"            // column type; null when none
	Max           AggKind = "max"            // column type; null when none
	Last          AggKind = "last"           // value of the newest event with a non-null value
	DistinctCount AggKind = "distinct_count" // distinct non-null values (int64)
)

// Aggregation computes one feature over the events of the last Window before
// the window end, [end-Window, end), optionally only those matching Where.
type Aggregation struct {
	Name        string // feature name
	Kind        AggKind
	Column      string // source column; empty for Count
	Window      time.Duration
	Where       *Predicate
	Description string

	resultType Type // set by Registry.Register
}

// Op is a comparison operator of a Predicate.
type Op string

const (
	Eq Op = "=="
	Ne Op = "!="
	Lt Op = "<"
	Le Op = "<="
	Gt Op = ">"
	Ge Op = ">="
)

// Predicate filters events: Column Op Value. A null column value never
// matches. It is data, not a Go func, so the fingerprint and the catalog can
// show it.
type Predicate struct {
	Column string
	Op     Op
	Value  Value
}

func (p *Predicate) String() string {
	return fmt.Sprintf("%s %s %s", p.Column, p.Op, p.Value)
}

func (p *Predicate) matchRow(c *Column, r int) bool { return p.match(c.Value(r)) }

func (p *Predicate) match(v Value) bool {
	if v.IsNull() {
		return false
	}
	c, err := v.Compare(p.Value)
	if err != nil {
		return false
	}
	switch p.Op {
	case Eq:
		return c == 0
	case Ne:
		return c != 0
	case Lt:
		return c < 0
	case Le:
		return c <= 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	}
	return false
}

// MaxWindow bounds aggregation windows: longer ones would make every run read
// months of raw data.
const MaxWindow = 90 * 24 * time.Hour

// resolve checks the aggregation against its source and sets resultType.
func (a *Aggregation) resolve(src *Source) error {
	if a.Window < time.Minute || a.Window > MaxWindow {
		return fmt.Errorf("window %s out of range [1m, 90d]", a.Window)
	}
	if a.Window%time.Minute != 0 {
		return fmt.Errorf("window %s is not a whole number of minutes", a.Window)
	}
	if a.Where != nil {
		f, ok := src.Field(a.Where.Column)
		if !ok {
			return fmt.Errorf("filter column %q is not in source %s", a.Where.Column, src.Name)
		}
		switch a.Where.Op {
		case Eq, Ne, Lt, Le, Gt, Ge:
		default:
			return fmt.Errorf("filter operator %q unknown", a.Where.Op)
		}
		if _, err := a.Where.Value.Compare(zeroOf(f.Type)); err != nil || a.Where.Value.IsNull() {
			return fmt.Errorf("filter value %s does not fit %s column %s", a.Where.Value, f.Type, f.Name)
		}
	}
	if a.Kind == Count {
		a.resultType = Int64
		return nil
	}
	f, ok := src.Field(a.Column)
	if !ok {
		return fmt.Errorf("column %q is not in source %s", a.Column, src.Name)
	}
	switch a.Kind {
	case Sum:
		if f.Type != Int64 && f.Type != Float64 {
			return fmt.Errorf("sum needs a numeric column, %s is %s", f.Name, f.Type)
		}
		a.resultType = f.Type
	case Mean:
		if f.Type != Int64 && f.Type != Float64 {
			return fmt.Errorf("mean needs a numeric column, %s is %s", f.Name, f.Type)
		}
		a.resultType = Float64
	case Min, Max:
		if f.Type == Bool {
			return fmt.Errorf("%s needs an ordered column, %s is bool", a.Kind, f.Name)
		}
		a.resultType = f.Type
	case Last:
		a.resultType = f.Type
	case DistinctCount:
		a.resultType = Int64
	default:
		return fmt.Errorf("unknown aggregation kind %q", a.Kind)
	}
	return nil
}

func zeroOf(t Type) Value {
	switch t {
	case Int64:
		return IntValue(0)
	case Float64:
		return FloatValue(0)
	case String:
		return StringValue("")
	case Bool:
		return BoolValue(false)
	}
	return Null
}

// aggregate computes a over rows (indexes into f, in time order) whose time is
// in [from, to), through the aggregation's state (aggState): in batch mode
// for batch views, in fresh mode for a fresh view's batch windows, so they
// agree with its tiles.
func (a *Aggregation) aggregate(f *Frame, rows []int, from, to int64, col, where *Column, fresh bool) Value {
	var st aggState
	st.foldRows(a, fresh, f, rows, from, to, col, where)
	return st.value(a, fresh)
}
