package push_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/push"
)

func validRequest(now time.Time) push.Request {
	return push.Request{Source: "clicks", RequestID: "r1", Columns: map[string][]features.Value{
		"event_time": push.Times(now.Add(-time.Minute), now),
		"user_id":    {features.StringValue("u1"), features.StringValue("u2")},
		"product":    {features.IntValue(1), features.Null},
		"amount":     {features.FloatValue(2.5), features.Null},
		"kind":       {features.StringValue("buy"), features.StringValue("view")},
	}}
}

// Bad requests are refused naming the column and row, and write nothing:
// no file, no tile, no claim (the id stays usable).
func TestPushValidation(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(*push.Request)
		want   string
	}{
		{"unknown source", func(q *push.Request) { q.Source = "nope" }, `unknown source "nope"`},
		{"source without fresh view", nil, ""}, // covered below with another registry
		{"no request id", func(q *push.Request) { q.RequestID = "" }, "request_id"},
		{"unknown column", func(q *push.Request) { q.Columns["colour"] = q.Columns["kind"] }, `unknown column "colour"`},
		{"missing column", func(q *push.Request) { delete(q.Columns, "amount") }, `missing column "amount"`},
		{"missing event time", func(q *push.Request) { delete(q.Columns, "event_time") }, `missing event time column "event_time"`},
		{"ragged", func(q *push.Request) { q.Columns["kind"] = q.Columns["kind"][:1] }, `column "kind" has 1 values`},
		{"wrong type", func(q *push.Request) { q.Columns["product"][1] = features.StringValue("x") }, `column "product" row 1: want int64, got string`},
		{"null event time", func(q *push.Request) { q.Columns["event_time"][1] = features.Null }, `column "event_time" row 1: the event time is null`},
		{"future event", func(q *push.Request) {
			q.Columns["event_time"][1] = features.IntValue(q.Columns["event_time"][1].Int64() + 1)
		}, `column "event_time" row 1: event time`},
		{"null join key", func(q *push.Request) { q.Columns["user_id"][0] = features.Null }, `column "user_id" row 0: the join key is null`},
		{"no rows", func(q *push.Request) {
			for k := range q.Columns {
				q.Columns[k] = nil
			}
		}, "no rows"},
	}
	for _, tc := range tests {
		if tc.change == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			q := validRequest(r.clock)
			tc.change(&q)
			_, err := r.pusher.Push(ctx, q)
			var re *push.RequestError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want a RequestError containing %q", err, tc.want)
			}
		})
	}
	if files, _ := filepath.Glob(filepath.Join(r.sources.Root(), "*", "*", "*")); len(files) != 0 {
		t.Fatalf("bad requests wrote %v", files)
	}
	// Too many rows.
	small, err := push.New(r.reg, r.sources, r.online, push.Options{MaxRows: 1, Now: func() time.Time { return r.clock }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Push(ctx, validRequest(r.clock)); err == nil || !strings.Contains(err.Error(), "2 rows, at most 1") {
		t.Fatalf("too many rows: %v", err)
	}
	// Nothing claimed: the id still takes a good request, as new.
	res, err := r.pusher.Push(ctx, validRequest(r.clock))
	if err != nil || res.Replayed || res.Rows != 2 || res.Tiles != 2 || len(res.Files) != 1 {
		t.Fatalf("good request after bad ones: %+v, %v", res, err)
	}
}

// POST /push takes Feast's JSON shape, the Idempotency-Key header, and
// answers 400/409/503 as documented.
func TestHandler(t *testing.T) {
	r := newRig(t)
	h := push.Handler(r.pusher, push.HandlerOptions{})
	ts := r.clock.Format(time.RFC3339Nano)
	body := func(id, user, amount string) string {
		return `{"push_source_name": "clicks", ` + id + `"df": {"event_time": ["` + ts + `"], "user_id": [` + user + `], "product": [3], "amount": [` + amount + `], "kind": ["buy"]}}`
	}
	tests := []struct {
		name, body, key string
		code            int
		want            string
	}{
		{"ok", body(`"request_id": "a", `, `"u1"`, "1.5"), "", 200, `"rows":1`},
		{"retry", body(`"request_id": "a", `, `"u1"`, "1.5"), "", 200, `"replayed":true`},
		{"header id", body("", `"u1"`, "2"), "b", 200, `"replayed":false`},
		{"conflict", body("", `"u1"`, "3"), "b", 409, "different events"},
		{"ids differ", body(`"request_id": "c", `, `"u1"`, "1"), "d", 400, "differ"},
		{"no id", body("", `"u1"`, "1"), "", 400, "request_id"},
		{"bad type", body(`"request_id": "e", `, `7`, "1"), "", 400, `column \"user_id\" row 0: want a string`},
		{"number as string", body(`"request_id": "e", `, `"u1"`, `"1"`), "", 400, `column \"amount\" row 0: want a JSON number`},
		{"malformed", `{"push_source_name": `, "", 400, "malformed JSON"},
		{"offline only", `{"push_source_name": "clicks", "to": "offline", "df": {}}`, "", 400, "online_and_offline"},
		{"bad time", strings.Replace(body(`"request_id": "f", `, `"u1"`, "1"), ts, "yesterday", 1), "", 400, "RFC 3339"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/push", strings.NewReader(tc.body))
			if tc.key != "" {
				req.Header.Set("Idempotency-Key", tc.key)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			got, _ := io.ReadAll(w.Body)
			if w.Code != tc.code || !strings.Contains(string(got), tc.want) {
				t.Fatalf("%d %s, want %d containing %s", w.Code, got, tc.code, tc.want)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(r.sources.Root(), "clicks", "date=*", "push-*.parquet"))
	if len(files) != 2 {
		t.Fatalf("files %v, want one per accepted request id (a, b)", files)
	}
	// A store failure is a 503 and leaves the request retryable.
	if err := os.Chmod(filepath.Join(r.sources.Root(), "clicks"), 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(r.sources.Root(), "clicks"), 0o755) })
	if os.Geteuid() != 0 {
		r.clock = r.clock.Add(24 * time.Hour) // a new date folder, which cannot be made
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/push", strings.NewReader(strings.ReplaceAll(body(`"request_id": "g", `, `"u1"`, "1"), ts, r.clock.Format(time.RFC3339Nano)))))
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("store failure: %d %s", w.Code, w.Body)
		}
	}
}
