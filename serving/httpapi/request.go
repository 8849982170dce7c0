package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
)

// Request is a decoded POST /get-online-features body, in Feast's shape:
//
//	{"features": ["view:feature", ...] | "feature_service": "name",
//	 "entities": {"user_id": ["u1", "u2"]}, "full_feature_names": false}
type Request struct {
	Features         []string
	FeatureService   string
	Entities         serving.Entities
	FullFeatureNames bool
}

// wireRequest mirrors the JSON; entity values stay raw until their join
// key's type is known. Unknown fields are ignored, as Feast's server does,
// so clients that send extras keep working.
type wireRequest struct {
	Features         *[]string                    `json:"features"`
	FeatureService   *string                      `json:"feature_service"`
	Entities         map[string][]json.RawMessage `json:"entities"`
	FullFeatureNames bool                         `json:"full_feature_names"`
}

// errTooLarge marks limit violations, answered with 413.
var errTooLarge = errors.New("request too large")

// DecodeRequest parses and checks a request body against the join keys the
// registry knows (joinKeys: name → key type) and the entity row limit. Every
// error names the problem and is a client mistake; those wrapping
// errTooLarge exceed a limit.
func DecodeRequest(body []byte, joinKeys map[string]features.Type, maxEntities int) (Request, error) {
	w, ok := fastDecode(body)
	if !ok {
		var err error
		if w, err = decodeWire(body); err != nil {
			return Request{}, err
		}
	}
	return w.check(joinKeys, maxEntities)
}

// decodeWire parses body with encoding/json: the reference for every
// input, and the one whose errors clients see.
func decodeWire(body []byte) (wireRequest, error) {
	var w wireRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return wireRequest{}, fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return wireRequest{}, fmt.Errorf("malformed JSON: trailing data after the request object")
	}
	return w, nil
}

// check turns a parsed body into a Request, checking it.
func (w *wireRequest) check(joinKeys map[string]features.Type, maxEntities int) (Request, error) {
	req := Request{FullFeatureNames: w.FullFeatureNames}
	switch {
	case w.Features != nil && w.FeatureService != nil:
		return Request{}, fmt.Errorf(`give either "features" or "feature_service", not both`)
	case w.Features != nil:
		if len(*w.Features) == 0 {
			return Request{}, fmt.Errorf(`"features" is empty`)
		}
		req.Features = *w.Features
	case w.FeatureService != nil:
		if *w.FeatureService == "" {
			return Request{}, fmt.Errorf(`"feature_service" is empty`)
		}
		req.FeatureService = *w.FeatureService
	default:
		return Request{}, fmt.Errorf(`request names no features: give "features" or "feature_service"`)
	}
	if len(w.Entities) == 0 {
		return Request{}, fmt.Errorf(`"entities" is missing or empty: give at least one join key column`)
	}
	req.Entities = make(serving.Entities, len(w.Entities))
	for name, raw := range w.Entities {
		typ, ok := joinKeys[name]
		if !ok {
			return Request{}, fmt.Errorf("entities: unknown join key %q", name)
		}
		if len(raw) > maxEntities {
			return Request{}, fmt.Errorf("%w: %d entity rows, the limit is %d", errTooLarge, len(raw), maxEntities)
		}
		col := make([]features.Value, len(raw))
		for i, r := range raw {
			v, err := decodeKey(r, typ)
			if err != nil {
				return Request{}, fmt.Errorf("entities: %s[%d]: %v", name, i, err)
			}
			col[i] = v
		}
		req.Entities[name] = col
	}
	return req, nil
}

func decodeKey(raw json.RawMessage, typ features.Type) (features.Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return features.Null, fmt.Errorf("empty value")
	}
	switch typ {
	case features.String:
		if raw[0] != '"' {
			return features.Null, fmt.Errorf("want a string key, got %s", jsonKind(raw))
		}
		// The decoder has validated raw's syntax: without escapes (and with
		// valid UTF-8, which encoding/json would otherwise repair), its
		// contents are the string.
		if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
			return features.StringValue(string(raw[1 : len(raw)-1])), nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return features.Null, fmt.Errorf("bad string: %v", err)
		}
		return features.StringValue(s), nil
	case features.Int64:
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return features.Null, fmt.Errorf("want an integer key, got %s", jsonKind(raw))
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return features.Null, fmt.Errorf("want an int64 key, got %s", raw)
		}
		return features.IntValue(n), nil
	}
	return features.Null, fmt.Errorf("join key type %s is not supported", typ)
}

func jsonKind(raw []byte) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
