package httpapi

import (
	"reflect"
	"testing"
)

var fastDecodeSeeds = []struct {
	body string
	fast bool // whether the fast path takes it
}{
	{`{"features":["user_orders:spend_30d"],"entities":{"user_id":["u1"]}}`, true},
	{` { "feature_service" : "recommender" , "entities" : { "user_id" : [ "u1" , "u2" ] , "product_id" : [ 1 , -2, 0 ] } , "full_feature_names" : true } ` + "\n", true},
	{`{"full_feature_names":false,"features":["a:b","c:d"],"entities":{"product_id":[-9223372036854775808,9223372036854775807]}}`, true},
	{`{"features":["a:b"],"entities":{"product_id":[99999999999999999999]}}`, true}, // check() words the overflow
	{`{"features":["a:b"],"feature_service":"s","entities":{"user_id":["u1"]}}`, true},
	{`{"features":["a:b"],"entities":{"user_id":["u1"]},"entities":{"user_id":["u2"]}}`, false},
	{`{"features":["a:b"],"entities":{"user_id":["u1"],"user_id":["u2"]}}`, false},
	{`{"Features":["a:b"],"entities":{"user_id":["u1"]}}`, false},
	{`{"features":["a:b"],"entities":{"user_id":["u\u0031"]}}`, false},
	{`{"features":["a:b"],"entities":{"user_id":["é"]}}`, false},
	{`{"features":["a:b"],"entities":{"product_id":[1e3, 1.5, 01]}}`, false},
	{`{"features":["a:b"],"entities":{"product_id":[null, true, {}]}}`, false},
	{`{"features":["a:b"],"entities":{"user_id":[]}}`, false},
	{`{"features":[],"entities":{}}`, false},
	{`{"features":null}`, false},
	{`{"features":["a:b"],"entities":{"user_id":["u1"]},"extra":1}`, false},
	{`{"features":["a:b"],"entities":{"user_id":["u1"]}} x`, false},
	{`{"features":["a:b"],"entities":{"user_id":["u1"]}`, false},
	{`{"features":["a:b"],"entities":{"user_id":["u1"]},}`, false},
	{`{"features":["a:b",],"entities":{"user_id":["u1"]}}`, false},
	{`{"features":["a:b"],"entities":{"product_id":[1}}`, false},
	{`{"features":["a:b"],"full_feature_names":tru}`, false},
	{`{}`, false}, {`{`, false}, {`null`, false}, {``, false}, {`[1]`, false},
}

// TestFastDecodeTakesFeastBodies: the bodies Feast clients send take the
// fast path, and everything it takes decodes as encoding/json decodes it.
func TestFastDecodeTakesFeastBodies(t *testing.T) {
	for _, tc := range fastDecodeSeeds {
		_, ok := fastDecode([]byte(tc.body))
		if ok != tc.fast {
			t.Errorf("fastDecode(%s): ok %v, want %v", tc.body, ok, tc.fast)
		}
		checkFastDecode(t, []byte(tc.body))
	}
}

// FuzzFastDecode: whatever the fast path accepts, encoding/json accepts
// with the same result.
func FuzzFastDecode(f *testing.F) {
	for _, tc := range fastDecodeSeeds {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(checkFastDecode)
}

func checkFastDecode(t *testing.T, body []byte) {
	fast, ok := fastDecode(body)
	if !ok {
		return
	}
	ref, err := decodeWire(body)
	if err != nil {
		t.Fatalf("fastDecode accepted %q, encoding/json says %v", body, err)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("fastDecode(%q) = %+v, encoding/json %+v", body, fast, ref)
	}
}
