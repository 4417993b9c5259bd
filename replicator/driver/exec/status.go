package exec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tether-ha/tether/replicator/driver"
)

// decodeStatus decodes the status hook's stdout (see the package doc).
// It walks the tokens itself because encoding/json alone takes keys in any
// case and the last of repeated keys: a typo or a doubled key in a hook
// should be an error, not a silently different reading.
func decodeStatus(b []byte) (driver.Status, error) {
	st, err := decodeObject(b)
	if err != nil {
		return driver.Status{}, err
	}
	return st, nil
}

func decodeObject(b []byte) (driver.Status, error) {
	var st driver.Status
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err == io.EOF {
		return st, errors.New("no output, want a JSON object")
	}
	if err != nil {
		return st, err
	}
	if t != json.Delim('{') {
		return st, fmt.Errorf("want a JSON object, not %v", t)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return st, err
		}
		key, _ := t.(string) // a key is a string, More said there is one
		if seen[key] {
			return st, fmt.Errorf("key %q repeated", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return st, fmt.Errorf("%q: %w", key, err)
		}
		if err := setField(&st, key, raw); err != nil {
			return st, fmt.Errorf("%q: %w", key, err)
		}
	}
	if t, err := dec.Token(); err != nil {
		return st, err
	} else if t != json.Delim('}') {
		return st, fmt.Errorf("unexpected %v", t)
	}
	if _, err := dec.Token(); err != io.EOF {
		return st, errors.New("trailing data after the object")
	}
	if !seen["role"] {
		return st, errors.New("role is required")
	}
	return st, nil
}

// setField sets one key's value; null leaves an optional field zero.
func setField(st *driver.Status, key string, raw json.RawMessage) error {
	switch key {
	case "role":
		var s *string
		if err := json.Unmarshal(raw, &s); err != nil || s == nil {
			return errors.New("want a string")
		}
		switch r := driver.Role(*s); r {
		case driver.RolePrimary, driver.RoleFenced, driver.RoleReplica, driver.RoleDown:
			st.Role = r
		default:
			return fmt.Errorf("%q is not primary, fenced, replica or down", *s)
		}
	case "following":
		return json.Unmarshal(raw, &st.Following)
	case "link_up":
		return json.Unmarshal(raw, &st.LinkUp)
	case "lag":
		return json.Unmarshal(raw, &st.Lag)
	case "offset":
		return json.Unmarshal(raw, &st.Offset)
	case "detail":
		return json.Unmarshal(raw, &st.Detail)
	case "lag_at":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		if s == "" { // omitted, null or "": unknown
			return nil
		}
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("want an RFC 3339 time: %w", err)
		}
		st.LagAt = at
	default:
		return errors.New("unknown key")
	}
	return nil
}
