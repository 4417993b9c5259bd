package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// scalar returns the scalar at path, or records why it is not one.
func (w *walker) scalar(v *yaml.Node, path string) (*yaml.Node, bool) {
	v = deref(v)
	switch {
	case isNull(v):
		w.failf(path, "no value given")
	case v.Kind != yaml.ScalarNode:
		w.failf(path, "must be a single value, not %s", describe(v))
	default:
		switch v.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool":
			return v, true
		}
		w.failf(path, "unsupported YAML tag %s", strconv.QuoteToASCII(v.Tag))
	}
	return nil, false
}

// str decodes a string; check (optional) validates it.
func (w *walker) str(dst *string, check func(string) error) decodeFunc {
	return func(v *yaml.Node, path string) {
		s, ok := w.scalar(v, path)
		if !ok {
			return
		}
		if check != nil {
			if err := check(s.Value); err != nil {
				w.failf(path, "%v", err)
				return
			}
		}
		*dst = s.Value
	}
}

// strList decodes a list of strings; check (optional) validates each.
func (w *walker) strList(dst *[]string, check func(string) error) decodeFunc {
	return func(v *yaml.Node, path string) {
		out := []string{}
		w.list(v, path, func(_ int, v *yaml.Node, p string) {
			var s string
			w.str(&s, check)(v, p)
			if w.ok(p) {
				out = append(out, s)
			}
		})
		*dst = out
	}
}

// boolean decodes true or false.
func (w *walker) boolean(dst *bool) decodeFunc {
	return func(v *yaml.Node, path string) {
		s, ok := w.scalar(v, path)
		if !ok {
			return
		}
		if s.ShortTag() != "!!bool" {
			w.failf(path, "must be true or false, not %q", s.Value)
			return
		}
		b, err := strconv.ParseBool(strings.ToLower(s.Value))
		if err != nil {
			w.failf(path, "must be true or false, not %q", s.Value)
			return
		}
		*dst = b
	}
}

// integer is the set of types number can decode into.
type integer interface{ ~int | ~int64 | ~uint16 }

// number decodes a whole number in [lo, hi], given as a YAML integer or a
// string holding one ("0x88b5"); check (optional) validates it further.
func number[T integer](w *walker, dst *T, lo, hi int64, check func(int64) error) decodeFunc {
	return func(v *yaml.Node, path string) {
		s, ok := w.scalar(v, path)
		if !ok {
			return
		}
		n, err := parseInt(s)
		if err != nil {
			w.failf(path, "%v", err)
			return
		}
		if n < lo || n > hi {
			w.failf(path, "%d is out of range: must be from %d to %d", n, lo, hi)
			return
		}
		if check != nil {
			if err := check(n); err != nil {
				w.failf(path, "%v", err)
				return
			}
		}
		*dst = T(n)
	}
}

// parseInt reads a YAML integer: decimal, 0x hex, 0o octal, 0b binary,
// with optional underscores. A decimal with a leading zero is refused:
// YAML reads 010 as octal 8, which surprises.
func parseInt(s *yaml.Node) (int64, error) {
	tag := s.ShortTag()
	if tag != "!!int" && tag != "!!str" {
		return 0, fmt.Errorf("must be a whole number, not %q", s.Value)
	}
	t := strings.TrimLeft(s.Value, "+-")
	if len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9' {
		return 0, fmt.Errorf("%q has a leading zero, which YAML reads as octal: write it without the zero (or as 0o%s for octal)", s.Value, strings.TrimLeft(t, "0"))
	}
	n, err := strconv.ParseInt(s.Value, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("must be a whole number, not %q", s.Value)
	}
	return n, nil
}

// Duration limits for timers.
const (
	minTimer = time.Millisecond
	maxTimer = time.Hour
)

// duration decodes a timer: an integer number of milliseconds or a Go
// duration string ("100ms", "1.5s"), from 1ms to 1h.
func (w *walker) duration(dst *time.Duration) decodeFunc {
	return func(v *yaml.Node, path string) {
		s, ok := w.scalar(v, path)
		if !ok {
			return
		}
		var d time.Duration
		switch s.ShortTag() {
		case "!!int":
			ms, err := parseInt(s)
			if err != nil {
				w.failf(path, "%v", err)
				return
			}
			if ms < 0 || ms > int64(maxTimer/time.Millisecond) {
				w.failf(path, "%d ms is out of range: must be from %v to %v", ms, minTimer, maxTimer)
				return
			}
			d = time.Duration(ms) * time.Millisecond
		case "!!str":
			var err error
			d, err = time.ParseDuration(s.Value)
			if err != nil {
				w.failf(path, "invalid duration %q: give whole milliseconds (100) or a duration with a unit (\"100ms\", \"1.5s\")", s.Value)
				return
			}
		default:
			w.failf(path, "invalid duration %q: give whole milliseconds (100) or a duration with a unit (\"100ms\", \"1.5s\")", s.Value)
			return
		}
		if d < minTimer || d > maxTimer {
			w.failf(path, "%v is out of range: must be from %v to %v", d, minTimer, maxTimer)
			return
		}
		*dst = d
	}
}
