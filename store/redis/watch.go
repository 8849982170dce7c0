package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// Watch calls fn with the keys of every write batch, as published by Write,
// until ctx is done. Pub/sub delivers at most once, so whenever the
// subscription is (re)established — at start and after a lost connection,
// when messages may have been missed — fn is called with reset set and no
// keys: the caller must then forget everything. fn runs on Watch's goroutine.
// Watch returns ctx's error.
func (s *Store) Watch(ctx context.Context, fn func(keys []string, reset bool)) error {
	ps := s.client.Subscribe(ctx, onlinecodec.Channel(s.opts.Prefix))
	// Receive blocks in a network read that ctx cannot interrupt; closing
	// the subscription can.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	defer ps.Close()
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// go-redis reconnects and resubscribes on the next Receive; the
			// resulting *Subscription message resets the caller again.
			s.opts.Logger.Warn("redis store: write signal subscription lost", "err", err)
			fn(nil, true)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			backoff = 50 * time.Millisecond
			fn(nil, true)
		case *goredis.Message:
			keys, err := onlinecodec.DecodeSignal(m.Payload)
			if err != nil {
				s.opts.Logger.Warn("redis store: bad write signal; dropping everything", "err", err)
				fn(nil, true)
				continue
			}
			fn(keys, false)
		}
	}
}
