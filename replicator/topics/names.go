package topics

import "fmt"

// MaxNameLen bounds topic and group names (they are file names).
const MaxNameLen = 64

// ValidName reports whether s may name a topic or a consumer group:
// [A-Za-z0-9._-]{1,64}, and not "." or "..", so it is always a plain file
// name inside the store's directory.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func checkName(kind, s string) error {
	if !ValidName(s) {
		return fmt.Errorf("%w: %s name %q must be 1 to %d characters of A-Z, a-z, 0-9, '.', '_' or '-' (not \".\" or \"..\")", ErrInvalidName, kind, s, MaxNameLen)
	}
	return nil
}
