package bigquery

// SetAfterLoadInsert makes a load call hook after it created a load job and
// before it waits for it; a non-nil error is returned as if the worker had
// died there (the job runs on).
func SetAfterLoadInsert(s *Store, hook func(jobID string) error) { s.afterLoadInsert = hook }

// SetJobErr makes every waited-for job for which hook returns an error
// report that error as its own (a failed job, which the emulator never
// reports).
func SetJobErr(s *Store, hook func(jobID string) error) { s.jobErr = hook }

// SetOnQuery makes the sources call hook with the id of every query job
// they create.
func SetOnQuery(s *Sources, hook func(jobID string)) { s.onQuery = hook }
