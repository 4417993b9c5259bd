package postgresql

import (
	"fmt"
	"strconv"
	"strings"
)

// parseLSN reads a pg_lsn's text form ("16/B374D848") as the byte position
// it stands for, so that lag is a subtraction.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	return h<<32 | l, nil
}

func formatLSN(v uint64) string {
	return fmt.Sprintf("%X/%X", v>>32, uint32(v))
}
