package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/httpapi"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// Running the reader service in-process, as the dev command does, and
// calling it like a Feast client. (An in-memory Redis stands in for a real
// one here; it holds no values, so the feature is NOT_FOUND.)
func Example() {
	mr, _ := miniredis.Run()
	defer mr.Close()
	client, _ := redisstore.NewClient("redis://" + mr.Addr())
	defer client.Close()
	reg := demo.Registry()
	store, _ := redisstore.New(client, reg, redisstore.Options{})
	reader, _ := serving.New(reg, store, serving.Options{})
	h, _ := httpapi.New(reg, reader, store, httpapi.Options{})

	l, _ := net.Listen("tcp", "127.0.0.1:0") // :6566 in production
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- httpapi.Serve(ctx, l, h, 5*time.Second) }()

	resp, err := http.Post("http://"+l.Addr().String()+"/get-online-features", "application/json",
		strings.NewReader(`{"features":["user_orders:spend_30d"],"entities":{"user_id":["u000042"]}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	stop() // SIGTERM in the server's main
	fmt.Println("shutdown:", <-done)
	// Output:
	// 200 {"metadata":{"feature_names":["user_id","spend_30d"]},"results":[{"values":["u000042"],"statuses":["PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z"]},{"values":[null],"statuses":["NOT_FOUND"],"event_timestamps":["1970-01-01T00:00:00Z"]}]}
	// shutdown: <nil>
}
