package grpcapi

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	servingpb "github.com/skewfree/skewfree/serving/grpcapi/proto/feast/serving"
	typespb "github.com/skewfree/skewfree/serving/grpcapi/proto/feast/types"
	"github.com/skewfree/skewfree/serving/internal/feastapi"
)

// service implements Feast's ServingService over a Reader.
type service struct {
	servingpb.UnimplementedServingServiceServer
	reader Reader
	opts   Options
	keys   atomic.Pointer[joinKeys]
}

// joinKeys are a registry's join keys and their types, worked out once per
// registry.
type joinKeys struct {
	reg  *features.Registry
	keys map[string]features.Type
}

func (s *service) joinKeys() map[string]features.Type {
	reg := s.reader.Registry()
	if k := s.keys.Load(); k != nil && k.reg == reg {
		return k.keys
	}
	k := &joinKeys{reg: reg, keys: feastapi.JoinKeys(reg)}
	s.keys.Store(k)
	return k.keys
}

func (s *service) GetFeastServingInfo(context.Context, *servingpb.GetFeastServingInfoRequest) (*servingpb.GetFeastServingInfoResponse, error) {
	return &servingpb.GetFeastServingInfoResponse{Version: version()}, nil
}

// version is "skewfree" and the module version of the binary, when known.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
			if m.Path == "github.com/skewfree/skewfree" && m.Version != "" && m.Version != "(devel)" {
				return "skewfree " + m.Version
			}
		}
	}
	return "skewfree (devel)"
}

func (s *service) GetOnlineFeatures(ctx context.Context, in *servingpb.GetOnlineFeaturesRequest) (*servingpb.GetOnlineFeaturesResponse, error) {
	req, err := decodeRequest(in, s.joinKeys(), s.opts.MaxEntities)
	if err != nil {
		return nil, statusOf(err)
	}
	res, err := feastapi.Read(ctx, s.reader, &req, s.opts.Timeout, s.opts.Logger, "grpcapi")
	if err != nil {
		return nil, statusOf(err)
	}
	return encodeResponse(&req, res), nil
}

// statusOf is the gRPC status of a failed request: the client's mistakes
// (HTTP's 4xx) are InvalidArgument, with HTTP's message.
func statusOf(err error) error {
	switch feastapi.KindOf(err) {
	case feastapi.Unavailable:
		return status.Error(codes.Unavailable, err.Error())
	case feastapi.Cancelled:
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

// decodeRequest checks a request as DecodeRequest of serving/httpapi does
// its JSON, with the same messages.
func decodeRequest(in *servingpb.GetOnlineFeaturesRequest, joinKeys map[string]features.Type, maxEntities int) (feastapi.Request, error) {
	req := feastapi.Request{FullFeatureNames: in.GetFullFeatureNames()}
	var refs *[]string
	var svc *string
	switch k := in.GetKind().(type) {
	case *servingpb.GetOnlineFeaturesRequest_Features:
		list := k.Features.GetVal()
		refs = &list
	case *servingpb.GetOnlineFeaturesRequest_FeatureService:
		svc = &k.FeatureService
	}
	var err error
	if req.Features, req.FeatureService, err = feastapi.Select(refs, svc); err != nil {
		return feastapi.Request{}, err
	}
	req.Entities, err = feastapi.DecodeEntities(in.GetEntities(), joinKeys, maxEntities,
		func(c *typespb.RepeatedValue) int { return len(c.GetVal()) },
		func(c *typespb.RepeatedValue, i int, typ features.Type) (features.Value, error) {
			return decodeKey(c.Val[i], typ)
		})
	if err != nil {
		return feastapi.Request{}, err
	}
	return req, nil
}

// decodeKey converts an entity key. An int key may come as int64_val or
// int32_val (what Feast clients send for Int64 and Int32 entities); a
// string key as string_val.
func decodeKey(v *typespb.Value, typ features.Type) (features.Value, error) {
	switch typ {
	case features.String:
		if s, ok := v.GetVal().(*typespb.Value_StringVal); ok {
			return features.StringValue(s.StringVal), nil
		}
	case features.Int64:
		switch x := v.GetVal().(type) {
		case *typespb.Value_Int64Val:
			return features.IntValue(x.Int64Val), nil
		case *typespb.Value_Int32Val:
			return features.IntValue(int64(x.Int32Val)), nil
		}
	default:
		return features.Null, feastapi.UnsupportedKey(typ)
	}
	return features.Null, feastapi.WrongKind(typ, kindOf(v))
}

// kindOf names what a value holds in the words of the HTTP API's errors
// (JSON's kinds), so that the same mistake reads the same on both.
func kindOf(v *typespb.Value) string {
	switch v.GetVal().(type) {
	case nil, *typespb.Value_NullVal:
		return "null"
	case *typespb.Value_StringVal, *typespb.Value_UuidVal, *typespb.Value_TimeUuidVal:
		return "a string"
	case *typespb.Value_Int32Val, *typespb.Value_Int64Val, *typespb.Value_UnixTimestampVal:
		return "a number"
	case *typespb.Value_DoubleVal, *typespb.Value_FloatVal:
		return "a floating-point number"
	case *typespb.Value_BoolVal:
		return "a boolean"
	case *typespb.Value_BytesVal:
		return "bytes"
	case *typespb.Value_MapVal:
		return "an object"
	}
	return "an array"
}

// encodeResponse builds Feast's response: the column names, then one
// vector per column (join keys first), as serving/httpapi's JSON. Values,
// timestamps and vectors are allocated in slabs, not one by one.
func encodeResponse(req *feastapi.Request, res *serving.Result) *servingpb.GetOnlineFeaturesResponse {
	rows := len(res.Rows)
	cols := len(res.JoinKeys) + len(res.Features)
	names := make([]string, 0, cols)
	names = append(names, res.JoinKeys...)
	for _, f := range res.Features {
		if req.FullFeatureNames {
			names = append(names, f.View+"__"+f.Feature)
		} else {
			names = append(names, f.Feature)
		}
	}
	vecs := make([]servingpb.GetOnlineFeaturesResponse_FeatureVector, cols)
	out := &servingpb.GetOnlineFeaturesResponse{
		Metadata: &servingpb.GetOnlineFeaturesResponseMetadata{FeatureNames: &servingpb.FeatureList{Val: names}},
		Results:  make([]*servingpb.GetOnlineFeaturesResponse_FeatureVector, cols),
	}
	vals := make([]typespb.Value, rows*cols)
	valPtrs := make([]*typespb.Value, rows*cols)
	stats := make([]servingpb.FieldStatus, rows*cols)
	tsPtrs := make([]*timestamppb.Timestamp, rows*cols)
	epoch := &timestamppb.Timestamp{}
	var times []timestamppb.Timestamp // one per distinct (row, time), filled as met
	for c := range cols {
		lo, hi := c*rows, (c+1)*rows
		v := &vecs[c]
		v.Values, v.Statuses, v.EventTimestamps = valPtrs[lo:hi:hi], stats[lo:hi:hi], tsPtrs[lo:hi:hi]
		for i := range rows {
			v.Values[i] = &vals[lo+i]
		}
		out.Results[c] = v
	}
	for k, jk := range res.JoinKeys {
		v := &vecs[k]
		for i, key := range req.Entities[jk] {
			setValue(v.Values[i], key)
			v.Statuses[i] = servingpb.FieldStatus_PRESENT
			v.EventTimestamps[i] = epoch
		}
	}
	if n := rows * len(res.Features); n > 0 {
		times = make([]timestamppb.Timestamp, 0, n)
	}
	for i, row := range res.Rows {
		// Features of one view share their event time: one Timestamp each.
		var last time.Time
		var lastTS *timestamppb.Timestamp
		for j, fv := range row {
			v := &vecs[len(res.JoinKeys)+j]
			setValue(v.Values[i], fv.Value)
			v.Statuses[i] = fieldStatus(fv.Status)
			switch {
			case fv.EventTime.IsZero():
				v.EventTimestamps[i] = epoch
			case lastTS != nil && fv.EventTime.Equal(last):
				v.EventTimestamps[i] = lastTS
			default:
				times = append(times, timestamppb.Timestamp{Seconds: fv.EventTime.Unix(), Nanos: int32(fv.EventTime.Nanosecond())})
				last, lastTS = fv.EventTime, &times[len(times)-1]
				v.EventTimestamps[i] = lastTS
			}
		}
	}
	return out
}

func fieldStatus(s serving.Status) servingpb.FieldStatus {
	switch s {
	case serving.Present:
		return servingpb.FieldStatus_PRESENT
	case serving.OutsideMaxAge:
		return servingpb.FieldStatus_OUTSIDE_MAX_AGE
	}
	return servingpb.FieldStatus_NOT_FOUND
}

// setValue stores x in v; a null leaves v empty, Feast's null. Floats are
// sent as they are, NaN and infinities included (the HTTP JSON, which
// cannot carry them, says null).
func setValue(v *typespb.Value, x features.Value) {
	switch x.Type() {
	case features.Int64:
		v.Val = &typespb.Value_Int64Val{Int64Val: x.Int64()}
	case features.Float64:
		v.Val = &typespb.Value_DoubleVal{DoubleVal: x.Float64()}
	case features.String:
		v.Val = &typespb.Value_StringVal{StringVal: x.Str()}
	case features.Bool:
		v.Val = &typespb.Value_BoolVal{BoolVal: x.Bool()}
	}
}
