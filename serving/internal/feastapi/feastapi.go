// Package feastapi is the transport-neutral half of Feast's online-features
// API, shared by the HTTP (serving/httpapi) and gRPC (serving/grpcapi)
// services so that both answer a request the same way: which features a
// request names, how its entity keys are checked and converted, its limits,
// the reader call, and which failures are the client's. Each transport
// decodes its own wire format into a Request and maps an *Error's Kind to
// its own status codes; the messages are the same on both.
package feastapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
)

// Request is a decoded GetOnlineFeatures request, in Feast's shape: either
// Features ("view:feature" references) or FeatureService, entity rows
// column-major, and whether columns get full names (view__feature).
type Request struct {
	Features         []string
	FeatureService   string
	Entities         serving.Entities
	FullFeatureNames bool
}

// Reader is what a request is answered from; *serving.Reader implements it.
type Reader interface {
	Get(ctx context.Context, featureRefs []string, entities serving.Entities) (*serving.Result, error)
	GetService(ctx context.Context, service string, entities serving.Entities) (*serving.Result, error)
}

// Kind classifies an Error for the transports' status codes.
type Kind uint8

const (
	// BadRequest is the client's mistake (HTTP 400, gRPC InvalidArgument).
	BadRequest Kind = iota + 1
	// TooLarge is a request over a limit (HTTP 413, gRPC InvalidArgument).
	TooLarge
	// Unavailable: the online store did not answer in time; retrying later
	// may succeed (HTTP 503, gRPC Unavailable).
	Unavailable
	// Cancelled: the client went away (HTTP 503, gRPC Canceled).
	Cancelled
)

// Error is a failed request as the client sees it: Msg names the problem
// and is safe to show.
type Error struct {
	Kind Kind
	Msg  string
	err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.err }

// ErrTooLarge is wrapped by errors of requests that exceed a limit.
var ErrTooLarge = errors.New("request too large")

// KindOf returns the Kind of err: an *Error's, TooLarge for errors wrapping
// ErrTooLarge, and BadRequest for any other error of this package's
// decoding helpers.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, ErrTooLarge):
		return TooLarge
	}
	return BadRequest
}

// Select checks which features a request names; features and service are
// nil when the request does not have them.
func Select(features *[]string, service *string) (refs []string, svc string, err error) {
	switch {
	case features != nil && service != nil:
		return nil, "", fmt.Errorf(`give either "features" or "feature_service", not both`)
	case features != nil:
		if len(*features) == 0 {
			return nil, "", fmt.Errorf(`"features" is empty`)
		}
		return *features, "", nil
	case service != nil:
		if *service == "" {
			return nil, "", fmt.Errorf(`"feature_service" is empty`)
		}
		return nil, *service, nil
	}
	return nil, "", fmt.Errorf(`request names no features: give "features" or "feature_service"`)
}

// JoinKeys maps the join keys of reg's entities to their key types.
func JoinKeys(reg *features.Registry) map[string]features.Type {
	keys := map[string]features.Type{}
	for _, v := range reg.Views() {
		e := reg.EntityOf(v)
		keys[e.JoinKey] = e.KeyType
	}
	return keys
}

// DecodeEntities checks a request's entity columns (cols, of a transport's
// column type C with length n) against the registry's join keys and the row
// limit, and converts each key with key, whose errors (see WrongKind) are
// prefixed with the key's position. Errors wrapping ErrTooLarge exceed the
// limit; the others are the client's mistakes.
func DecodeEntities[C any](cols map[string]C, joinKeys map[string]features.Type, maxEntities int,
	n func(C) int, key func(col C, i int, typ features.Type) (features.Value, error)) (serving.Entities, error) {
	if len(cols) == 0 {
		return nil, fmt.Errorf(`"entities" is missing or empty: give at least one join key column`)
	}
	out := make(serving.Entities, len(cols))
	for name, c := range cols {
		typ, ok := joinKeys[name]
		if !ok {
			return nil, fmt.Errorf("entities: unknown join key %q", name)
		}
		rows := n(c)
		if rows > maxEntities {
			return nil, fmt.Errorf("%w: %d entity rows, the limit is %d", ErrTooLarge, rows, maxEntities)
		}
		col := make([]features.Value, rows)
		for i := range col {
			v, err := key(c, i, typ)
			if err != nil {
				return nil, fmt.Errorf("entities: %s[%d]: %v", name, i, err)
			}
			col[i] = v
		}
		out[name] = col
	}
	return out, nil
}

// WrongKind is the error for an entity key of the wrong kind for its join
// key's type; got names what was sent ("a string", "a number", "null").
func WrongKind(typ features.Type, got string) error {
	switch typ {
	case features.String:
		return fmt.Errorf("want a string key, got %s", got)
	case features.Int64:
		return fmt.Errorf("want an integer key, got %s", got)
	}
	return UnsupportedKey(typ)
}

// UnsupportedKey is the error for a join key type no transport can carry.
func UnsupportedKey(typ features.Type) error {
	return fmt.Errorf("join key type %s is not supported", typ)
}

// Read answers req from r within timeout. Its errors are *Error: the
// client's mistakes (unknown feature or service, missing join key, wrong
// key type, ambiguous bare names) are BadRequest with the reader's message;
// an unreachable or slow store is Unavailable (logged as a warning), other
// failures too (logged as errors); who prefixes the log messages.
func Read(ctx context.Context, r Reader, req *Request, timeout time.Duration, log *slog.Logger, who string) (*serving.Result, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res *serving.Result
	var err error
	if req.FeatureService != "" {
		res, err = r.GetService(rctx, req.FeatureService, req.Entities)
	} else {
		res, err = r.Get(rctx, req.Features, req.Entities)
	}
	if err != nil {
		var re *serving.RequestError
		switch {
		case errors.As(err, &re):
			return nil, &Error{Kind: BadRequest, Msg: re.Error(), err: err}
		case errors.Is(err, serving.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
			log.Warn(who+": online store unavailable", "err", err)
			return nil, &Error{Kind: Unavailable, Msg: "online store unavailable; retry later", err: err}
		case ctx.Err() != nil:
			// The client went away; nobody reads the answer.
			return nil, &Error{Kind: Cancelled, Msg: "request cancelled", err: err}
		default:
			log.Error(who+": get online features", "err", err)
			return nil, &Error{Kind: Unavailable, Msg: "online read failed; retry later", err: err}
		}
	}
	if !req.FullFeatureNames {
		if err := CheckBareNames(res); err != nil {
			return nil, &Error{Kind: BadRequest, Msg: err.Error()}
		}
	}
	return res, nil
}

// CheckBareNames makes sure that bare feature names (full_feature_names
// false) name each column once. Full names (view__feature) always do: refs
// are unique, and "__" cannot occur in join keys or names.
func CheckBareNames(res *serving.Result) error {
	seen := make(map[string]bool, len(res.JoinKeys)+len(res.Features))
	for _, k := range res.JoinKeys {
		seen[k] = true
	}
	for _, f := range res.Features {
		if seen[f.Feature] {
			return fmt.Errorf("feature name %q appears twice in the response; set \"full_feature_names\": true", f.Feature)
		}
		seen[f.Feature] = true
	}
	return nil
}
