// Package gcsfs keeps the offline store and raw sources on Google Cloud
// Storage: a parquet.FS over one gs://bucket/prefix, on the official client
// (cloud.google.com/go/storage). Credentials are Application Default
// Credentials; STORAGE_EMULATOR_HOST points the client at an emulator, as
// every Google client does.
//
// Writes: an object appears whole when its upload finalizes, or not at all
// (a failed write cancels the upload). Every write carries a precondition,
// so the client may retry it and a retry is never a duplicate: Create writes
// only if the object does not exist (the first publication marker wins);
// Replace writes over exactly the generation it saw (an identical rewrite of
// a retried run's file). A precondition failure is checked against the
// object: when it holds exactly what was sent (size, CRC32C, MD5), the
// upload had succeeded and only its response was lost (the client's retry
// then fails its precondition), and the write is done, without writing
// again. Otherwise Create reports fs.ErrExist and Replace, which lost a race
// with another writer, replaces that writer's generation (Options.Retries
// times at most, then a clear error).
//
// Reads: range reads of one pinned generation, through a buffer that turns
// parquet-go's page-sized reads into a few large requests (see object.go).
//
// It lives apart from package parquet so that what imports parquet (the
// served-feature log, the reader service) links no cloud client.
package gcsfs

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/skewfree/skewfree/store/parquet"
)

// Options of Open. Zero values mean the documented defaults.
type Options struct {
	// Client to use; default storage.NewClient (Application Default
	// Credentials, or STORAGE_EMULATOR_HOST when set), closed by FS.Close.
	Client *storage.Client
	// ReadAhead is the most a read that misses the buffer fetches past
	// what it asked for, reached by doubling while reads go on in order.
	// Default 1 MiB.
	ReadAhead int64
	// MinFetch is the least one range request fetches. Default 32 KiB.
	MinFetch int64
	// Retries of a Replace write that lost a race with another writer of
	// the same object (its generation changed between look and write).
	// Default 3.
	Retries int
}

func (o *Options) init() {
	if o.ReadAhead <= 0 {
		o.ReadAhead = 1 << 20
	}
	if o.MinFetch <= 0 {
		o.MinFetch = 32 << 10
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
}

// FS is a parquet.FS on a bucket prefix. Safe for concurrent use.
type FS struct {
	client *storage.Client
	own    bool
	bucket string
	prefix string
	opt    Options
	stats  Stats
}

var _ parquet.FS = (*FS)(nil)

// Stats count the requests of an FS (for tests, benchmarks and the bytes
// fetched ÷ object bytes ratio).
type Stats struct {
	RangeReads   atomic.Int64 // range requests of Open'ed objects
	BytesFetched atomic.Int64 // bytes those requests returned
	Lists        atomic.Int64 // List calls (one prefix listing each)
	Writes       atomic.Int64 // finalized uploads
}

// Stats of the FS since it was opened.
func (f *FS) Stats() *Stats { return &f.stats }

// ParseURL splits gs://bucket/prefix.
func ParseURL(url string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(url, "gs://")
	if !ok {
		return "", "", fmt.Errorf("gcs: %q is not a gs://bucket/prefix location", url)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("gcs: %q names no bucket", url)
	}
	prefix = strings.Trim(prefix, "/")
	if strings.Contains(prefix, "//") || strings.Contains(prefix, "..") {
		return "", "", fmt.Errorf("gcs: %q: prefix %q is not a clean path", url, prefix)
	}
	return bucket, prefix, nil
}

// Open opens gs://bucket/prefix and checks that it can list it: a missing
// bucket or a missing permission is one error naming the bucket, before
// anything is written.
func Open(ctx context.Context, url string, opt Options) (*FS, error) {
	opt.init()
	bucket, prefix, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	f := &FS{client: opt.Client, bucket: bucket, prefix: prefix, opt: opt}
	if f.client == nil {
		// The client's context only sets it up; requests take their own.
		c, err := storage.NewClient(context.WithoutCancel(ctx))
		if err != nil {
			return nil, fmt.Errorf("gcs: client for %s: %w", url, err)
		}
		f.client, f.own = c, true
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	it := f.client.Bucket(bucket).Objects(cctx, &storage.Query{Prefix: f.key("") + "/"})
	it.PageInfo().MaxSize = 1
	if _, err := it.Next(); err != nil && !errors.Is(err, iterator.Done) {
		f.Close()
		return nil, f.wrap("open", "", err)
	}
	return f, nil
}

// Close closes the client when Open made it.
func (f *FS) Close() error {
	if f.own {
		return f.client.Close()
	}
	return nil
}

// key is the object name of a store name.
func (f *FS) key(name string) string { return path.Join(f.prefix, name) }

// Location implements parquet.FS.
func (f *FS) Location(name string) string {
	if k := f.key(name); k != "" {
		return "gs://" + f.bucket + "/" + k
	}
	return "gs://" + f.bucket
}

func (f *FS) obj(name string) (*storage.ObjectHandle, error) {
	if name == "" || strings.HasPrefix(name, "/") || slices.Contains(strings.Split(name, "/"), "..") || strings.Contains(name, `\`) {
		return nil, fmt.Errorf("gcs: object name %q is not a path inside %s", name, f.Location(""))
	}
	return f.client.Bucket(f.bucket).Object(f.key(name)), nil
}

// wrap turns a client error into one naming the resource: a missing object
// matches fs.ErrNotExist, a missing bucket and a refused permission say so.
func (f *FS) wrap(op, name string, err error) error {
	loc := f.Location(name)
	var gerr *googleapi.Error
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return fmt.Errorf("gcs: %s %s: %w", op, loc, fs.ErrNotExist)
	case errors.Is(err, storage.ErrBucketNotExist):
		return fmt.Errorf("gcs: %s %s: bucket %q does not exist: %w", op, loc, f.bucket, err)
	case errors.As(err, &gerr) && gerr.Code == http.StatusNotFound && op == "open":
		return fmt.Errorf("gcs: %s %s: bucket %q does not exist: %w", op, loc, f.bucket, err)
	case errors.As(err, &gerr) && (gerr.Code == http.StatusForbidden || gerr.Code == http.StatusUnauthorized):
		return fmt.Errorf("gcs: %s %s: permission denied on bucket %q (see README, Running on Google Cloud, for the roles each process needs): %w", op, loc, f.bucket, err)
	}
	return fmt.Errorf("gcs: %s %s: %w", op, loc, err)
}

func isPrecondition(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed
}

// ReadFile implements parquet.FS.
func (f *FS) ReadFile(ctx context.Context, name string) ([]byte, error) {
	o, err := f.obj(name)
	if err != nil {
		return nil, err
	}
	r, err := o.NewReader(ctx)
	if err != nil {
		return nil, f.wrap("read", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, f.wrap("read", name, err)
	}
	return b, nil
}

// WriteFile implements parquet.FS. The upload is cancelled, leaving no
// object, when write fails; every attempt carries a precondition (see the
// package comment).
func (f *FS) WriteFile(ctx context.Context, name string, mode parquet.WriteMode, write func(io.Writer) error) error {
	o, err := f.obj(name)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		cond := storage.Conditions{DoesNotExist: true}
		if mode == parquet.Replace {
			attrs, err := o.Attrs(ctx)
			switch {
			case err == nil:
				cond = storage.Conditions{GenerationMatch: attrs.Generation}
			case !errors.Is(err, storage.ErrObjectNotExist):
				return f.wrap("write", name, err)
			}
		}
		sum, err := f.upload(ctx, o.If(cond), write)
		if err == nil {
			f.stats.Writes.Add(1)
			return nil
		}
		if !isPrecondition(err) {
			return f.wrap("write", name, err)
		}
		// A 412 also answers the client's retry of an upload that did
		// succeed but whose response was lost: the object then holds
		// exactly what we wrote, and writing it again would only change
		// its generation under readers.
		if ours, cerr := f.holds(ctx, o, sum); cerr != nil {
			return f.wrap("write", name, fmt.Errorf("check after a failed precondition: %w", cerr))
		} else if ours {
			f.stats.Writes.Add(1)
			return nil
		}
		switch {
		case mode == parquet.Create:
			return fmt.Errorf("gcs: write %s: %w", f.Location(name), fs.ErrExist)
		case attempt < f.opt.Retries:
			continue // another writer replaced it meanwhile: replace its generation
		}
		return fmt.Errorf("gcs: write %s: another writer replaced the object %d times while this one tried to (its content differs from ours): %w",
			f.Location(name), attempt+1, err)
	}
}

// checksum is what an upload sent: size, CRC32C (Castagnoli) and MD5.
type checksum struct {
	size  int64
	crc   hash.Hash32
	md5   hash.Hash
	valid bool // write returned without error, so the sums are whole
}

func (c *checksum) Write(p []byte) (int, error) {
	c.size += int64(len(p))
	c.crc.Write(p)
	c.md5.Write(p)
	return len(p), nil
}

// holds reports whether name's current object is byte for byte (by size,
// CRC32C and, when the object has one, MD5) what an upload sent.
func (f *FS) holds(ctx context.Context, o *storage.ObjectHandle, sum *checksum) (bool, error) {
	if sum == nil || !sum.valid {
		return false, nil
	}
	a, err := o.Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if a.Size != sum.size || a.CRC32C != sum.crc.Sum32() {
		return false, nil
	}
	return len(a.MD5) == 0 || bytes.Equal(a.MD5, sum.md5.Sum(nil)), nil
}

// upload writes one object; on any error the upload is cancelled, so the
// object is not created or replaced. It returns the checksum of what write
// produced.
func (f *FS) upload(ctx context.Context, o *storage.ObjectHandle, write func(io.Writer) error) (_ *checksum, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := o.NewWriter(wctx)
	if strings.HasSuffix(o.ObjectName(), ".json") {
		w.ContentType = "application/json"
	} else {
		w.ContentType = "application/octet-stream"
	}
	sum := &checksum{crc: crc32.New(crc32.MakeTable(crc32.Castagnoli)), md5: md5.New()}
	if err := write(io.MultiWriter(w, sum)); err != nil {
		cancel()
		_ = w.Close()
		return nil, err
	}
	sum.valid = true
	return sum, w.Close()
}

// Remove implements parquet.FS.
func (f *FS) Remove(ctx context.Context, name string) error {
	o, err := f.obj(name)
	if err != nil {
		return err
	}
	if err := o.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return f.wrap("remove", name, err)
	}
	return nil
}

// List implements parquet.FS: one prefix listing with "/" as delimiter.
// Folder placeholder objects ("dir/", size 0, what the Cloud Console's
// "create folder" makes) are folders, never files: a folder holding only
// its placeholder lists empty, as an empty local folder does.
func (f *FS) List(ctx context.Context, dir string) ([]parquet.Entry, error) {
	if strings.HasPrefix(dir, "/") || strings.Contains(dir, "..") {
		return nil, fmt.Errorf("gcs: folder %q is not a path inside %s", dir, f.Location(""))
	}
	prefix := f.key(dir)
	if prefix != "" {
		prefix += "/"
	}
	q := &storage.Query{Prefix: prefix, Delimiter: "/"}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, err
	}
	it := f.client.Bucket(f.bucket).Objects(ctx, q)
	f.stats.Lists.Add(1)
	var out []parquet.Entry
	placeholder := false // dir's own "dir/" object: the folder exists, maybe empty
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, f.wrap("list", dir, err)
		}
		if a.Prefix != "" {
			out = append(out, parquet.Entry{Name: path.Base(strings.TrimSuffix(a.Prefix, "/")), Dir: true})
			continue
		}
		base := strings.TrimPrefix(a.Name, prefix)
		if base == "" {
			// The placeholder the Cloud Console's "create folder" (and
			// gsutil, Dataflow, ...) leave: a size-0 object named "dir/".
			// It makes an empty folder, as an empty local folder lists.
			placeholder = true
			continue
		}
		if strings.Contains(base, "/") {
			continue // not directly below dir
		}
		out = append(out, parquet.Entry{Name: base})
	}
	if len(out) == 0 && !placeholder {
		return nil, fmt.Errorf("gcs: list %s: %w", f.Location(dir), fs.ErrNotExist)
	}
	return out, nil
}

// Stat implements parquet.FS.
func (f *FS) Stat(ctx context.Context, name string) (int64, error) {
	o, err := f.obj(name)
	if err != nil {
		return 0, err
	}
	a, err := o.Attrs(ctx)
	if err != nil {
		return 0, f.wrap("stat", name, err)
	}
	return a.Size, nil
}
