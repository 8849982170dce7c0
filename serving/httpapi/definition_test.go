package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving/httpapi"
)

// TestOtherDefinitionNotFoundMetric: a value written by another definition
// of user_orders, in which the first feature has another name, answers that
// feature NOT_FOUND (the others PRESENT) and counts it in /metrics.
func TestOtherDefinitionNotFoundMetric(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	c := goredis.NewClient(&goredis.Options{Addr: e.srv.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	v, _ := e.reg.View("user_orders")
	feats := v.Features()
	theirs := append([]features.Feature(nil), feats...)
	theirs[0].Name = "renamed"
	if err := c.Set(ctx, onlinecodec.SchemaKey(e.store.Prefix(), "user_orders", "another-definition"), onlinecodec.AppendSchema(nil, theirs), 0).Err(); err != nil {
		t.Fatal(err)
	}
	vals := make([]features.Value, len(feats))
	for j, f := range feats {
		vals[j] = testenv.Sample(1)(j, 0, f)
	}
	enc, err := onlinecodec.Append(nil, onlinecodec.Header{EventMicros: features.Micros(e.event), CreatedMicros: features.Micros(e.event), Fingerprint: "another-definition"}, vals)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := e.store.Key("user_orders", features.Key{Str: "u9"})
	if err := c.Set(ctx, key, enc, 0).Err(); err != nil {
		t.Fatal(err)
	}
	body := `{"features":["user_orders:` + feats[0].Name + `","user_orders:` + feats[1].Name + `"],"entities":{"user_id":["u9"]}}`
	rec := e.do("POST", "/get-online-features", body)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var resp feastResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	// Results: the join key column, then one per feature.
	if len(resp.Results) != 3 || resp.Results[1].Statuses[0] != "NOT_FOUND" || resp.Results[2].Statuses[0] != "PRESENT" {
		t.Fatalf("want the renamed feature NOT_FOUND and the other PRESENT: %s", rec.Body)
	}
	if m := e.do("GET", "/metrics", "").Body.String(); !strings.Contains(m, "skewfree_serving_definition_not_found_total 1\n") {
		t.Errorf("metrics lack skewfree_serving_definition_not_found_total 1:\n%s", m)
	}
}
