// Package sample writes the files `make dev` leaves in its state folder for a
// newcomer to try the training-set path with nothing but Go installed: an
// entity table of the demo's users with a label, as Parquet and as CSV, and
// the starter command that builds a training set from it as printed.
package sample

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

// File names inside the state folder.
const (
	EntitiesParquet = "labels.parquet"
	EntitiesCSV     = "labels.csv"
	TrainingSet     = "train.parquet"
	// Service is the feature service the printed command joins.
	Service = "fraud_model"
)

// Rows is the number of rows of the sample entity table.
const Rows = 500

// Entities returns the sample entity table: Rows checkouts of the demo's
// users 0..users-1 (user_id), at whole seconds spread evenly over [from,
// to) (event_timestamp), each with a bool label is_fraud (about one in
// eleven true). The same arguments always give the same table.
func Entities(users int, from, to time.Time) *features.Frame {
	users = max(users, 1)
	span := max(to.Sub(from), time.Second)
	f := &features.Frame{Key: features.NewColumn("user_id", features.String, Rows)}
	label := features.NewColumn("is_fraud", features.Bool, Rows)
	for i := range Rows {
		_ = f.Key.Append(features.StringValue(demo.UserID(i * 37 % users)))
		at := from.Add(span * time.Duration(i) / Rows).UTC().Truncate(time.Second)
		f.Time = append(f.Time, features.Micros(at))
		_ = label.Append(features.BoolValue(uint32(i)*2654435761%11 == 0))
	}
	f.Columns = []*features.Column{label}
	return f
}

// WriteEntities writes Entities to dir as EntitiesParquet and EntitiesCSV,
// each atomically, and returns their paths.
func WriteEntities(dir string, users int, from, to time.Time) (parquetPath, csvPath string, err error) {
	f := Entities(users, from, to)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("sample entities: %w", err)
	}
	parquetPath, csvPath = filepath.Join(dir, EntitiesParquet), filepath.Join(dir, EntitiesCSV)
	if err := parquet.WriteFileAtomic(parquetPath, func(w *os.File) error {
		return parquet.WriteFrame(w, f, trainingset.EntityColumn, nil)
	}); err != nil {
		return "", "", fmt.Errorf("sample entities: %w", err)
	}
	if err := parquet.WriteFileAtomic(csvPath, func(w *os.File) error {
		return trainingset.WriteCSV(w, f)
	}); err != nil {
		return "", "", fmt.Errorf("sample entities: %w", err)
	}
	return parquetPath, csvPath, nil
}

// TrainingSetCommand is the command, run from the repository root, that
// builds a training set for Service from the sample CSV entity table of a
// dev stack whose state folder is state (as given to dev, e.g. ".state"),
// reading that stack's offline store (named, so SKEWFREE_OFFLINE in the
// shell cannot point it elsewhere) and writing TrainingSet beside it.
func TrainingSetCommand(state string) string {
	args := []string{"go", "run", "./starter", "training-set",
		"--entities", filepath.Join(state, EntitiesCSV), "--service", Service,
		"--out", filepath.Join(state, TrainingSet), "--offline", "file://" + filepath.Join(state, "offline")}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// path characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
