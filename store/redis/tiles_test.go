package redis_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/internal/testenv"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// A request id's first claim fixes its ingest time: retries (also
// concurrent ones) get it back, other events under the id are a conflict,
// and ids are per source.
func TestClaimPush(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	s := newStore(t, c, t0)
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	first := t0.Add(1234 * time.Microsecond)

	var wg sync.WaitGroup
	got := make([]time.Time, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Go(func() {
			got[i], _, errs[i] = s.ClaimPush(ctx, "page_views", "r1", a, first.Add(time.Duration(i)*time.Second), time.Hour)
		})
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !got[i].Equal(got[0]) {
			t.Fatalf("concurrent claims got %v", got)
		}
	}
	tests := []struct {
		name, source, id string
		digest           [32]byte
		want             time.Time
		wantErr          error
	}{
		{"retry", "page_views", "r1", a, got[0], nil},
		{"other events", "page_views", "r1", b, time.Time{}, redisstore.ErrPushConflict},
		{"new id", "page_views", "r2", b, t0.Add(time.Hour), nil},
		{"same id, other source", "orders", "r1", b, t0.Add(time.Hour), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at, _, err := s.ClaimPush(ctx, tc.source, tc.id, tc.digest, t0.Add(time.Hour), time.Hour)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if !at.Equal(tc.want) {
				t.Fatalf("ingest %v, want %v", at, tc.want)
			}
		})
	}
	if ttl := c.PTTL(ctx, s.PushKey("page_views", "r1")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("claim TTL %v, want (0, 1h]", ttl)
	}
}

// Tile fields are written in one transaction with the tile's expiry; a
// rewrite is idempotent; FetchWithTiles returns values and tile fields in
// one pipeline, nil for missing tiles.
func TestWriteAndFetchTiles(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	s := newStore(t, c, t0)
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	ws := []redisstore.TileWrite{
		{Key: "t:v1:{s:u1}:fv:0", Field: "r1", Value: []byte("a"), ExpireAt: exp},
		{Key: "t:v1:{s:u1}:fv:60", Field: "r1", Value: []byte("b"), ExpireAt: exp.Add(time.Minute)},
		{Key: "t:v1:{s:u2}:fv:0", Field: "r1", Value: []byte("c"), ExpireAt: exp},
	}
	for range 2 {
		if err := s.WriteTiles(ctx, ws); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteTiles(ctx, []redisstore.TileWrite{{Key: "t:v1:{s:u1}:fv:0", Field: "r2", Value: []byte("d"), ExpireAt: exp}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "t:v1:{s:u1}:bv", "value", 0).Err(); err != nil {
		t.Fatal(err)
	}
	raw, tiles, err := s.FetchWithTiles(ctx, []string{"t:v1:{s:u1}:bv", "t:v1:{s:u9}:bv"},
		[]string{"t:v1:{s:u1}:fv:0", "t:v1:{s:u1}:fv:60", "t:v1:{s:u3}:fv:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(raw, []string{"value", ""}) {
		t.Fatalf("values %q", raw)
	}
	slices.Sort(tiles[0])
	if !slices.Equal(tiles[0], []string{"a", "d"}) || !slices.Equal(tiles[1], []string{"b"}) || len(tiles[2]) != 0 {
		t.Fatalf("tiles %q", tiles)
	}
	if at := c.PExpireTime(ctx, "t:v1:{s:u1}:fv:60").Val(); at != time.Duration(exp.Add(time.Minute).UnixMilli())*time.Millisecond {
		t.Fatalf("expiry %v, want %v", at, exp.Add(time.Minute).UnixMilli())
	}
}
