package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
)

// HandlerOptions configure Handler. The zero value is valid.
type HandlerOptions struct {
	// MaxBodyBytes bounds a request body. Default 8 MiB.
	MaxBodyBytes int64
	// Timeout bounds one push (both stores). Default 10s.
	Timeout time.Duration
	// Logger receives errors that are not the client's. Default slog.Default().
	Logger *slog.Logger
}

// Handler serves POST /push in the JSON shape of Feast's push API:
//
//	{"push_source_name": "page_views", "request_id": "…",
//	 "df": {"event_time": ["2026-11-20T10:00:00Z", …], "user_id": ["u1", …], …},
//	 "to": "online_and_offline"}
//
// The request id may come as the Idempotency-Key header instead (both: they
// must agree). Event times are RFC 3339 strings; other values are JSON
// numbers, strings, booleans or null, by the source field's type. "to" may
// be left out; any value but "online_and_offline" is refused, since the
// online and offline stores must hold the same events. Answers: 200 with
// {"rows", "ingest_timestamp", "replayed"}; 400 naming the bad column and
// row; 409 for a request id reused with other events; 503 when a store
// failed (retry with the same id); errors are {"error": "..."}.
func Handler(p *Pusher, opts HandlerOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /push", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, opts.MaxBodyBytes))
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("push: body exceeds %d bytes", opts.MaxBodyBytes))
				return
			}
			writeError(w, http.StatusBadRequest, "push: read body: "+err.Error())
			return
		}
		req, err := p.decode(body, r.Header.Get("Idempotency-Key"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), opts.Timeout)
		defer cancel()
		res, err := p.Push(ctx, req)
		var re *RequestError
		switch {
		case err == nil:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"rows": res.Rows, "ingest_timestamp": res.Ingest.Format(time.RFC3339Nano), "replayed": res.Replayed})
		case errors.As(err, &re):
			writeError(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, ErrConflict):
			writeError(w, http.StatusConflict, err.Error())
		default:
			opts.Logger.Warn("push failed", "source", req.Source, "request_id", req.RequestID, "err", err)
			writeError(w, http.StatusServiceUnavailable, "push: a store failed; retry with the same request id")
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

type pushBody struct {
	Source    string                       `json:"push_source_name"`
	RequestID string                       `json:"request_id"`
	DF        map[string][]json.RawMessage `json:"df"`
	To        string                       `json:"to"`
}

// decode parses a JSON push body into a Request, typing each value by its
// source field. Errors are *RequestError naming the column and row.
func (p *Pusher) decode(body []byte, idemKey string) (Request, error) {
	var b pushBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Request{}, badRequest("push: malformed JSON: %v", err)
	}
	if b.To != "" && b.To != "online_and_offline" {
		return Request{}, badRequest(`push: "to" is %q: only "online_and_offline" is supported (serving and training must see the same events)`, b.To)
	}
	if b.Source == "" {
		return Request{}, badRequest("push: push_source_name is required")
	}
	switch {
	case b.RequestID == "":
		b.RequestID = idemKey
	case idemKey != "" && idemKey != b.RequestID:
		return Request{}, badRequest("push: request_id %q and header Idempotency-Key %q differ", b.RequestID, idemKey)
	}
	src, ok := p.reg.Source(b.Source)
	if !ok {
		return Request{}, badRequest("push: unknown source %q", b.Source)
	}
	req := Request{Source: b.Source, RequestID: b.RequestID, Columns: make(map[string][]features.Value, len(b.DF))}
	for name, raw := range b.DF {
		t := features.Invalid
		if name == src.TimestampField {
			t = features.Int64
		} else if f, ok := src.Field(name); ok {
			t = f.Type
		} else {
			return Request{}, badRequest("push to %s: unknown column %q (the source has %s and its event time %s)", src.Name, name, fieldNames(src), src.TimestampField)
		}
		col := make([]features.Value, len(raw))
		for i, m := range raw {
			v, err := jsonValue(m, t, name == src.TimestampField)
			if err != nil {
				return Request{}, badRequest("push to %s: column %q row %d: %v", src.Name, name, i, err)
			}
			col[i] = v
		}
		req.Columns[name] = col
	}
	return req, nil
}

func jsonValue(m json.RawMessage, t features.Type, timestamp bool) (features.Value, error) {
	s := strings.TrimSpace(string(m))
	if s == "null" {
		return features.Null, nil
	}
	if timestamp {
		var str string
		if err := json.Unmarshal(m, &str); err != nil {
			return features.Null, fmt.Errorf("want an RFC 3339 timestamp string, got %s", s)
		}
		ts, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return features.Null, fmt.Errorf("want an RFC 3339 timestamp (2026-11-20T10:00:00Z), got %q", str)
		}
		return features.IntValue(features.Micros(ts)), nil
	}
	if s[0] == '"' && (t == features.Int64 || t == features.Float64) {
		return features.Null, fmt.Errorf("want a JSON number (%s), got the string %s", t, s)
	}
	switch t {
	case features.Int64:
		var n json.Number
		if err := json.Unmarshal(m, &n); err == nil {
			if i, err := n.Int64(); err == nil {
				return features.IntValue(i), nil
			}
		}
		return features.Null, fmt.Errorf("want an int64, got %s", s)
	case features.Float64:
		var n json.Number
		if err := json.Unmarshal(m, &n); err == nil {
			if f, err := n.Float64(); err == nil {
				return features.FloatValue(f), nil
			}
		}
		return features.Null, fmt.Errorf("want a float64, got %s", s)
	case features.String:
		var str string
		if err := json.Unmarshal(m, &str); err != nil {
			return features.Null, fmt.Errorf("want a string, got %s", s)
		}
		return features.StringValue(str), nil
	case features.Bool:
		var bv bool
		if err := json.Unmarshal(m, &bv); err != nil {
			return features.Null, fmt.Errorf("want a bool, got %s", s)
		}
		return features.BoolValue(bv), nil
	}
	return features.Null, fmt.Errorf("unsupported type %s", t)
}
