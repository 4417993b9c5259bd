package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// go-redis prints its pool's dial failures to stderr through a logger of
// its own, process-wide. Every failure the driver meets is returned as an
// error and shown in the status instead, so that output (unstructured,
// not slog, once per dial) is dropped. The library offers no
// per-client logger, hence the package-level hook.
func init() { goredis.SetLogger(quiet{}) }

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
