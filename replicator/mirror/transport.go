package mirror

import "context"

// Transport carries one encoded FetchRequest to a topic's primary and
// returns its encoded FetchResponse. The agent implements it over its
// streams (replicator/driver/builtin); tests call a Server in memory. Implementations must honour
// ctx (the Runner's per-request timeout and shutdown).
type Transport interface {
	Fetch(ctx context.Context, req []byte) ([]byte, error)
}

// TransportFunc adapts a function to Transport.
type TransportFunc func(ctx context.Context, req []byte) ([]byte, error)

// Fetch calls f.
func (f TransportFunc) Fetch(ctx context.Context, req []byte) ([]byte, error) { return f(ctx, req) }

// DefaultMaxMessage is the largest answer a Runner takes when its config
// names none: what the agent's streams carry comfortably (links/tcp allows
// 16 MiB), so a fetch of a few MiB and its group offsets fit.
const DefaultMaxMessage = 8 << 20

// responseReserve is the room a response needs besides its batches: the
// fixed fields (about 80 bytes) and group offsets when a server adds them.
const responseReserve = 4 << 10
