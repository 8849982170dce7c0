package main

import (
	"fmt"
	"time"

	"github.com/skewfree/skewfree/config"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// bannerInfo is what the "Skewfree is up" banner shows.
type bannerInfo struct {
	UI, Namespace, Temporal, TaskQueue string
	Project                            string
	Serving                            string // host:port
	Push                               string // host:port of the push service
	GRPC                               string // host:port of the gRPC API; "" when off
	Catalog                            string // host:port of the catalog page
	RedisURL                           string // may hold a password: shown only redacted
	Offline                            string
	Users                              []string // two sample entity keys
	From, To                           time.Time
	// TrainingSet is a training-set command that works as printed, for the
	// sample labels in LabelsCSV (LabelsParquet: the same table).
	TrainingSet, LabelsCSV, LabelsParquet string
	// BigQuery is the history dataset on the emulator (dev -cloud), ""
	// when off; BigQueryTrainingSet the --engine bigquery command for the
	// small entity table BigQueryLabels.
	BigQuery, BigQueryEndpoint, BigQueryTrainingSet, BigQueryLabels string
}

// banner is the text dev prints once the stack is up. A Redis URL with a
// password (SKEWFREE_REDIS_URL) is shown redacted, and the sample command
// refers to the variable instead of repeating it.
func banner(b bannerInfo) string {
	redisEnv := b.RedisURL
	if redisstore.Redact(b.RedisURL) != b.RedisURL {
		redisEnv = `"$SKEWFREE_REDIS_URL"`
	}
	projectEnv := ""
	if !config.IsDefaultProject(b.Project) {
		projectEnv = " SKEWFREE_PROJECT=" + b.Project
	}
	grpcLine, grpcTry := "", ""
	if b.GRPC != "" {
		grpcLine = fmt.Sprintf("  Reader gRPC      %s  (feast.serving.ServingService, grpc.health.v1, reflection)\n", b.GRPC)
		grpcTry = fmt.Sprintf(`  grpcurl -plaintext -d '{"feature_service":"fraud_model","entities":{"user_id":{"val":[{"string_val":"%s"}]}},"full_feature_names":true}' %s feast.serving.ServingService/GetOnlineFeatures
      (the same through Feast's gRPC API; grpcurl reads the schema by reflection)

`, b.Users[0], b.GRPC)
	}
	bqLine, bqTry := "", ""
	if b.BigQuery != "" {
		bqLine = fmt.Sprintf("  BigQuery history %s on the emulator at %s (every run appends)\n", b.BigQuery, b.BigQueryEndpoint)
		bqTry = fmt.Sprintf(`  %s
      (a training set joined inside BigQuery on the emulator, for the %s rows of %s)

`, b.BigQueryTrainingSet, fmt.Sprint(bqLabelsRows), b.BigQueryLabels)
	}
	return fmt.Sprintf(`
Skewfree is up.

  Temporal UI      %s/namespaces/%s/schedules
  Temporal         %s (namespace %s, task queue %s)
  Reader service   http://%s  (/healthz /readyz /metrics /catalog)
  Push service     http://%s/push  (sample page views pushed every second)
%s  Catalog          http://%s/  (views, features, freshness, checks; or: go run ./starter describe feature spend_30d)
  Redis            %s
  Offline store    %s
%s
Try:
  curl -s http://%s/get-online-features -d '{"feature_service":"fraud_model","entities":{"user_id":["%s","%s"]},"full_feature_names":true}'

  curl -s http://%s/get-online-features -d '{"features":["user_live:page_views_5m","user_live:mobile_views_5m","user_live:last_product_15m"],"entities":{"user_id":["%s","%s"]}}'
      (a fresh view: page views pushed in the last 5 minutes, this second included; run it twice)
  curl -s http://%s/push -d '{"push_source_name":"page_views","request_id":"try-1","df":{"event_time":["'$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)'"],"user_id":["%s"],"product_id":[7],"dwell_seconds":[30.5],"device":["mobile"]}}'
      (push one yourself; sending the same request_id again is a no-op)

%s  TEMPORAL_ADDRESS=%s SKEWFREE_REDIS_URL=%s%s go run ./starter backfill --view product_sales --from %s --to %s --rerun --wait
      (re-runs two windows: each run adds a version, see starter history; without --rerun, stored windows are skipped)

  %s
      (a training set for the sample labels in %s; %s is the same table as Parquet)

%sCtrl-C stops everything.
`, b.UI, b.Namespace, b.Temporal, b.Namespace, b.TaskQueue, b.Serving, b.Push, grpcLine, b.Catalog, redisstore.Redact(b.RedisURL), b.Offline, bqLine,
		b.Serving, b.Users[0], b.Users[1], b.Serving, b.Users[0], b.Users[1], b.Push, b.Users[0], grpcTry, b.Temporal, redisEnv, projectEnv,
		b.From.Format(time.RFC3339), b.To.Format(time.RFC3339),
		b.TrainingSet, b.LabelsCSV, b.LabelsParquet, bqTry)
}
