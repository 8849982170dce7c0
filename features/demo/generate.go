package demo

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/skewfree/skewfree/features"
)

// GenOptions sizes the sample data. The same options always give the same
// events, so tests and benchmarks can regenerate instead of storing data.
type GenOptions struct {
	Users    int       // default 1000
	Products int       // default 200
	Days     int       // default 7
	Start    time.Time // first day (UTC midnight); default 2026-11-01
	Seed     uint64    // default 1
	// OrdersPerUserDay and ViewsPerUserDay are mean rates; defaults 0.3 and 4.
	OrdersPerUserDay float64
	ViewsPerUserDay  float64
}

func (o *GenOptions) init() {
	if o.Users == 0 {
		o.Users = 1000
	}
	if o.Products == 0 {
		o.Products = 200
	}
	if o.Days == 0 {
		o.Days = 7
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.OrdersPerUserDay == 0 {
		o.OrdersPerUserDay = 0.3
	}
	if o.ViewsPerUserDay == 0 {
		o.ViewsPerUserDay = 4
	}
}

// Validate reports options that cannot generate data.
func (o GenOptions) Validate() error {
	switch {
	case o.Users < 0 || o.Products < 0 || o.Days < 0:
		return fmt.Errorf("generate: users, products and days must not be negative")
	case o.Start.UTC() != o.Start.UTC().Truncate(24*time.Hour):
		return fmt.Errorf("generate: start %s is not a UTC midnight", o.Start.Format(time.RFC3339))
	case o.OrdersPerUserDay < 0 || o.ViewsPerUserDay < 0:
		return fmt.Errorf("generate: rates must not be negative")
	}
	return nil
}

// UserID formats the demo's string user keys.
func UserID(i int) string { return fmt.Sprintf("u%06d", i) }

// Generate returns the raw events of every demo source, by source name, each
// sorted by event time. Frames have no Key set: a view picks its own.
func Generate(opt GenOptions) (map[string]*features.Frame, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	opt.init()
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	price := make([]float64, opt.Products)
	for i := range price {
		price[i] = math.Round((5+rng.ExpFloat64()*40)*100) / 100
	}
	// Zipf-like product popularity keeps some products bestsellers.
	zipf := rand.NewZipf(rng, 1.2, 4, uint64(max(opt.Products-1, 0)))

	orders := newFrame([]features.Field{
		{Name: "order_id", Type: features.Int64}, {Name: "user_id", Type: features.String},
		{Name: "product_id", Type: features.Int64}, {Name: "quantity", Type: features.Int64},
		{Name: "amount", Type: features.Float64}, {Name: "status", Type: features.String},
		{Name: "channel", Type: features.String},
	})
	views := newFrame([]features.Field{
		{Name: "user_id", Type: features.String}, {Name: "product_id", Type: features.Int64},
		{Name: "dwell_seconds", Type: features.Float64}, {Name: "device", Type: features.String},
	})
	statuses := []string{"completed", "completed", "completed", "completed", "completed", "completed",
		"completed", "completed", "completed", "completed", "completed", "completed", "completed",
		"completed", "completed", "completed", "completed", "cancelled", "cancelled", "returned"}
	devices := []string{"mobile", "mobile", "desktop", "tablet"}
	var orderID int64
	dayUS := (24 * time.Hour).Microseconds()
	for u := 0; u < opt.Users; u++ {
		uid := features.StringValue(UserID(u))
		orderRate := opt.OrdersPerUserDay * rng.ExpFloat64()
		viewRate := opt.ViewsPerUserDay * rng.ExpFloat64()
		device := devices[rng.IntN(len(devices))]
		for d := 0; d < opt.Days; d++ {
			base := features.Micros(opt.Start) + int64(d)*dayUS
			for range poisson(rng, orderRate) {
				orderID++
				p := int64(zipf.Uint64())
				q := int64(1 + rng.IntN(3))
				if opt.Products == 0 {
					p = 0
				}
				amount := 0.0
				if opt.Products > 0 {
					amount = math.Round(price[p]*float64(q)*(0.8+0.2*rng.Float64())*100) / 100
				}
				ch := "web"
				if rng.IntN(2) == 0 {
					ch = "app"
				}
				orders.add(base+rng.Int64N(dayUS), features.IntValue(orderID), uid, features.IntValue(p),
					features.IntValue(q), features.FloatValue(amount),
					features.StringValue(statuses[rng.IntN(len(statuses))]), features.StringValue(ch))
			}
			for range poisson(rng, viewRate) {
				dwell := features.FloatValue(math.Round(rng.ExpFloat64()*3000) / 100)
				if rng.IntN(10) == 0 {
					dwell = features.Null
				}
				dev := device
				if rng.IntN(5) == 0 {
					dev = devices[rng.IntN(len(devices))]
				}
				views.add(base+rng.Int64N(dayUS), uid, features.IntValue(int64(zipf.Uint64())), dwell, features.StringValue(dev))
			}
		}
	}
	return map[string]*features.Frame{"orders": orders.sorted(), "page_views": views.sorted()}, nil
}

func poisson(rng *rand.Rand, lambda float64) int {
	// Knuth's method: rates here are small.
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

type frameBuilder struct{ f *features.Frame }

func newFrame(fields []features.Field) frameBuilder {
	f := &features.Frame{}
	for _, fd := range fields {
		f.Columns = append(f.Columns, features.NewColumn(fd.Name, fd.Type, 0))
	}
	return frameBuilder{f}
}

func (b frameBuilder) add(t int64, vals ...features.Value) {
	b.f.Time = append(b.f.Time, t)
	for i, v := range vals {
		if err := b.f.Columns[i].Append(v); err != nil {
			panic(err) // the generator's own columns: a bug, not input
		}
	}
}

// sorted orders the rows by event time (stable, so equal times keep
// generation order and the output stays deterministic).
func (b frameBuilder) sorted() *features.Frame {
	f := b.f
	idx := make([]int, f.Len())
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return cmp.Compare(f.Time[x], f.Time[y]) })
	return f.Take(idx)
}
