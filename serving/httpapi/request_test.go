package httpapi_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/httpapi"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// FuzzDecodeRequest feeds arbitrary bodies through the decoder and the
// whole handler (with a store that is never reached or answers nothing):
// no panic, and never a 5xx for anything a client can send.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"features":["user_orders:spend_30d"],"entities":{"user_id":["u1"]}}`,
		`{"feature_service":"recommender","entities":{"user_id":["u1"],"product_id":[1]},"full_feature_names":true}`,
		`{"features":["product_sales:orders_1d"],"entities":{"product_id":[-9223372036854775808, 9223372036854775807]}}`,
		`{"features":[],"entities":{}}`, `{"features":null}`, `{"entities":{"user_id":[{}]}}`,
		`{"features":["a:b"],"entities":{"product_id":[1e3, "x", null, true]}}`, `{`, `null`, `"x"`, ``,
		`{"features":["user_orders:spend_30d"],"entities":{"user_id":["\ud800"]}}`,
	} {
		f.Add([]byte(s))
	}
	reg := demo.Registry()
	keys := map[string]features.Type{"user_id": features.String, "product_id": features.Int64}
	reader, _ := serving.New(reg, emptyStore{}, serving.Options{})
	s, _ := redisstore.New(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), reg, redisstore.Options{})
	h, err := httpapi.New(reg, reader, s, httpapi.Options{MaxEntities: 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := httpapi.DecodeRequest(body, keys, 10); err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/get-online-features", strings.NewReader(string(body))))
		if rec.Code >= 500 {
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// emptyStore holds nothing and never fails.
type emptyStore struct{}

func (emptyStore) Prefix() string { return "sf" }
func (emptyStore) Fetch(ctx context.Context, keys []string, dst []string) ([]string, error) {
	return append(dst[:0], make([]string, len(keys))...), nil
}
func (emptyStore) Watch(ctx context.Context, fn func([]string, bool)) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestDecodeRequestKeys(t *testing.T) {
	keys := map[string]features.Type{"user_id": features.String, "product_id": features.Int64}
	req, err := httpapi.DecodeRequest([]byte(`{"features":["a:b"],"entities":{"user_id":["u\u0031","plain","é","a\"b"],"product_id":[-5,0,9223372036854775807,1]}}`), keys, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range append(req.Entities["user_id"], req.Entities["product_id"]...) {
		got = append(got, v.String())
	}
	if want := `"u1" "plain" "é" "a\"b" -5 0 9223372036854775807 1`; strings.Join(got, " ") != want {
		t.Fatalf("keys %s, want %s", strings.Join(got, " "), want)
	}
}
