package etcd

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Each resource has one key, <prefix><resource>, whose value names the
// primary and its epoch; it lives under the primary's lease. JSON, so
// that `etcdctl get --prefix /tether/` reads plainly at 3 a.m.

// holder is a key's value.
type holder struct {
	Node  string `json:"node"`
	ID    uint16 `json:"id"`
	Epoch uint32 `json:"epoch"`
}

func (h holder) encode() string {
	b, _ := json.Marshal(h) // cannot fail: strings and integers
	return string(b)
}

// decodeHolder parses a key's value; what tether did not write is an error.
func decodeHolder(b []byte) (holder, error) {
	var h holder
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil {
		return holder{}, fmt.Errorf("the key's value is not tether's: %w", err)
	}
	if h.Node == "" || h.Epoch == 0 {
		return holder{}, fmt.Errorf("the key's value %q names no node or epoch", b)
	}
	return h, nil
}

// keyOf is resource's key.
func (v *Voter) keyOf(resource string) string { return v.cfg.Prefix + resource }

// resourceOf is the resource a key under the prefix belongs to.
func (v *Voter) resourceOf(key []byte) (string, bool) {
	r, ok := strings.CutPrefix(string(key), v.cfg.Prefix)
	return r, ok && r != "" && !strings.Contains(r, "/")
}
