package corosync

import (
	"strconv"
	"strings"
)

// parseUint reads a number the way corosync reads its integer keys
// (coroparse.c safe_atoq: strtoll in base 10, all of the value, in range):
// leading C white space and a sign are allowed, "0x10" and "3000ms" are not.
func parseUint(v string, max uint64) (uint64, bool) {
	v = strings.TrimLeft(v, " \t\n\v\f\r")
	neg := false
	switch {
	case strings.HasPrefix(v, "+"):
		v = v[1:]
	case strings.HasPrefix(v, "-"):
		v, neg = v[1:], true
	}
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max || (neg && n != 0) {
		return 0, false
	}
	return n, true
}

// quoted reports whether v is wrapped in quotes, which corosync keeps as
// part of the value.
func quoted(v string) bool {
	return len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]
}
