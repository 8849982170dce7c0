package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving/internal/feastapi"
)

// Request is a decoded POST /get-online-features body, in Feast's shape:
//
//	{"features": ["view:feature", ...] | "feature_service": "name",
//	 "entities": {"user_id": ["u1", "u2"]}, "full_feature_names": false}
//
// The gRPC service (serving/grpcapi) decodes its requests into the same
// type and answers them through the same code.
type Request = feastapi.Request

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
var errTooLarge = feastapi.ErrTooLarge

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
	var err error
	if req.Features, req.FeatureService, err = feastapi.Select(w.Features, w.FeatureService); err != nil {
		return Request{}, err
	}
	req.Entities, err = feastapi.DecodeEntities(w.Entities, joinKeys, maxEntities,
		func(c []json.RawMessage) int { return len(c) },
		func(c []json.RawMessage, i int, typ features.Type) (features.Value, error) {
			return decodeKey(c[i], typ)
		})
	if err != nil {
		return Request{}, err
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
			return features.Null, feastapi.WrongKind(typ, jsonKind(raw))
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
			return features.Null, feastapi.WrongKind(typ, jsonKind(raw))
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return features.Null, fmt.Errorf("want an int64 key, got %s", raw)
		}
		return features.IntValue(n), nil
	}
	return features.Null, feastapi.UnsupportedKey(typ)
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
