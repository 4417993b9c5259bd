package mirror

import "context"

// Transport carries one encoded FetchRequest to a topic's primary and
// returns its encoded FetchResponse. The agent implements it over its
// message API; tests call a Server in memory. Implementations must honour
// ctx (the Runner's per-request timeout and shutdown).
type Transport interface {
	Fetch(ctx context.Context, req []byte) ([]byte, error)
}

// TransportFunc adapts a function to Transport.
type TransportFunc func(ctx context.Context, req []byte) ([]byte, error)

// Fetch calls f.
func (f TransportFunc) Fetch(ctx context.Context, req []byte) ([]byte, error) { return f(ctx, req) }

// MaxTransportMessage is the largest message the agent's message API
// carries. It is distinct from the codec's MaxMessage (a decoding bound):
// the Runner keeps each request's MaxBytes below it, so a response fits as
// long as no single batch on the primary is larger (Read always returns at
// least one batch; the primary's MaxBatchBytes must respect this).
const MaxTransportMessage = 60 << 10

// responseReserve is the room a response needs besides its batches: the
// fixed fields (about 80 bytes) and group offsets when a server adds them.
const responseReserve = 4 << 10

// MaxTransportBytes is the MaxBytes the Runner asks for at most.
const MaxTransportBytes = MaxTransportMessage - responseReserve
