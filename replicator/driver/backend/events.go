package backend

// Event ids (docs/EVENTS.md).
const (
	EvDiverged     = "backend.diverged" // a higher epoch was learnt: this copy follows the new primary
	EvRejoined     = "backend.rejoined" // an old primary's back end follows the new primary: it is the mirror
	EvBackendError = "backend.error"    // a driver call failed (retried)
)
