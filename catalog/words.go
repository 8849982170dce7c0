package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
)

// ScheduleInWords says when a view's windows are computed, e.g. "daily at
// 00:00 UTC + 2 h lateness" or "hourly at :00 UTC, no lateness".
func ScheduleInWords(v *features.View) string {
	var s string
	switch v.Cadence {
	case features.Daily:
		s = "daily at 00:00 UTC"
	case features.Hourly:
		s = "hourly at :00 UTC"
	default:
		s = string(v.Cadence)
	}
	if v.Lateness <= 0 {
		return s + ", no lateness"
	}
	return s + " + " + Duration(v.Lateness) + " lateness"
}

// FeatureInWords describes how feature name of view v is computed, e.g.
// "count of orders with status = "completed" over the last 30 days, per user,
// daily at 00:00 UTC + 2 h lateness". A feature of the view's Go function
// says so and gives the function's version, lookback and description.
func FeatureInWords(reg *features.Registry, v *features.View, name string) string {
	tail := ", per " + v.Entity + ", " + ScheduleInWords(v)
	for _, a := range v.Aggregations {
		if a.Name == name {
			return AggregationInWords(v.Source, a) + tail
		}
	}
	if fn := v.Func; fn != nil {
		for _, f := range fn.Features {
			if f.Name != name {
				continue
			}
			s := "Go function (version " + fn.Version + ")"
			if fn.Lookback > 0 {
				s += " over the last " + windowWords(fn.Lookback) + " of " + v.Source
			} else {
				s += " of the view's aggregations"
			}
			s += tail
			if f.Description != "" {
				s += ": " + f.Description
			}
			return s
		}
	}
	return ""
}

// AggregationInWords describes one declarative aggregation over source,
// without entity and schedule: "sum of amount over orders over the last 7 days".
func AggregationInWords(source string, a features.Aggregation) string {
	var s string
	switch a.Kind {
	case features.Count:
		s = "count of " + source
	case features.Sum:
		s = "sum of " + a.Column + " over " + source
	case features.Mean:
		s = "mean of " + a.Column + " over " + source
	case features.Min:
		s = "minimum of " + a.Column + " over " + source
	case features.Max:
		s = "maximum of " + a.Column + " over " + source
	case features.Last:
		s = "latest non-null " + a.Column + " of " + source
	case features.DistinctCount:
		s = "number of distinct " + a.Column + " values in " + source
	default:
		s = string(a.Kind) + " of " + a.Column + " over " + source
	}
	if p := a.Where; p != nil {
		s += " with " + p.Column + " " + opWords(p.Op) + " " + valueWords(p.Value)
	}
	return s + " over the last " + windowWords(a.Window)
}

func opWords(op features.Op) string {
	if op == features.Eq {
		return "="
	}
	return string(op)
}

func valueWords(v features.Value) string {
	if v.Type() == features.String {
		s := v.Str()
		// Plain words read better unquoted; anything else stays quoted.
		if s != "" && !strings.ContainsAny(s, " \t\"'") {
			return s
		}
		return strconv.Quote(s)
	}
	return v.String()
}

// windowWords is a window length for "over the last ...": "day", "7 days",
// "hour", "24 hours", "5 minutes".
func windowWords(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d%(24*time.Hour) == 0 && d != 24*time.Hour:
		return unit(int64(d/(24*time.Hour)), "day")
	case d == 24*time.Hour:
		return "day"
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return d.String()
}

// Duration is a compact human form of d: "2 days", "6 h", "90 min",
// "1 day 6 h"; "0" for zero.
func Duration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	day := 24 * time.Hour
	switch {
	case d >= day:
		days, rest := d/day, (d % day).Round(time.Hour)
		s := fmt.Sprintf("%d days", days)
		if days == 1 {
			s = "1 day"
		}
		if rest >= time.Hour {
			s += fmt.Sprintf(" %d h", rest/time.Hour)
		}
		return neg + s
	case d >= time.Hour:
		h, m := d/time.Hour, (d%time.Hour).Round(time.Minute)/time.Minute
		if m == 0 {
			return fmt.Sprintf("%s%d h", neg, h)
		}
		return fmt.Sprintf("%s%d h %d min", neg, h, m)
	case d >= time.Minute:
		return fmt.Sprintf("%s%d min", neg, d.Round(time.Minute)/time.Minute)
	}
	return neg + d.Round(time.Second).String()
}

// TTLWords is a view TTL for people: "unlimited" for 0.
func TTLWords(ttl time.Duration) string {
	if ttl == 0 {
		return "unlimited"
	}
	return Duration(ttl)
}
