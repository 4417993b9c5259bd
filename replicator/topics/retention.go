package topics

import (
	"errors"
	"fmt"
	"slices"
)

// ApplyRetention applies the logs' retention (Options.Log.RetentionBytes
// and RetentionAge) to every topic, deleting whole old segments, and
// returns how many it deleted. The agent calls it every minute. A mirror
// applies its own retention; if the primary's retention passes a mirror
// that is behind, the mirror fails with a resync needed (as in Kafka).
func (s *Store) ApplyRetention() (int, error) {
	s.mu.RLock()
	ts := make([]*topic, 0, len(s.topics))
	for _, t := range s.topics {
		ts = append(ts, t)
	}
	s.mu.RUnlock()
	slices.SortFunc(ts, func(a, b *topic) int {
		if a.name < b.name {
			return -1
		}
		return 1
	})
	var errs []error
	total := 0
	for _, t := range ts {
		n, err := t.log.ApplyRetention()
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("topic %q: retention: %w", t.name, err))
		}
	}
	return total, errors.Join(errs...)
}
