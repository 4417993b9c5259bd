package exec

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-ha/tether/replicator/driver"
)

// statusJSON is the status hook's output as encoding/json sees it.
type statusJSON struct {
	Role      string `json:"role"`
	Following string `json:"following,omitempty"`
	LinkUp    bool   `json:"link_up,omitempty"`
	Lag       uint64 `json:"lag,omitempty"`
	LagAt     string `json:"lag_at,omitempty"`
	Offset    uint64 `json:"offset,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// encodeStatus prints st as a status hook would.
func encodeStatus(st driver.Status) []byte {
	j := statusJSON{Role: string(st.Role), Following: st.Following, LinkUp: st.LinkUp, Lag: st.Lag, Offset: st.Offset, Detail: st.Detail}
	if !st.LagAt.IsZero() {
		j.LagAt = st.LagAt.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(j)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeStatus(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 12, 0, 0, 500, time.FixedZone("", 2*3600))
	for in, want := range map[string]driver.Status{
		`{"role":"primary"}`: {Role: driver.RolePrimary},
		` {"role":"fenced","detail":"fenced by tether"} ` + "\n":    {Role: driver.RoleFenced, Detail: "fenced by tether"},
		`{"role":"down","following":null,"lag_at":null,"lag":null}`: {Role: driver.RoleDown},
		`{"role":"replica","following":"b","link_up":true,"lag":18446744073709551615,"lag_at":"2024-05-01T12:00:00.0000005+02:00","offset":42,"detail":"x"}`: {
			Role: driver.RoleReplica, Following: "b", LinkUp: true, Lag: 1<<64 - 1, LagAt: at, Offset: 42, Detail: "x"},
		`{"role":"replica","lag_at":""}`: {Role: driver.RoleReplica},
	} {
		got, err := decodeStatus([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", in, d)
		}
	}
	for in, want := range map[string]string{
		``:                                  "no output",
		`[]`:                                "want a JSON object",
		`"primary"`:                         "want a JSON object",
		`{"role":"primary"`:                 "EOF",
		`{"role":"primary"}x`:               "trailing data",
		`{"role":"primary"}{"role":"down"}`: "trailing data",
		`{"role":"primary","role":"down"}`:  `key "role" repeated`,
		`{"Role":"primary"}`:                `"Role": unknown key`,
		`{"role":"primary","extra":1}`:      `"extra": unknown key`,
		`{"role":null}`:                     `"role": want a string`,
		`{"role":1}`:                        `"role": want a string`,
		`{"role":""}`:                       `is not primary`,
		`{"role":"PRIMARY"}`:                `is not primary`,
		`{}`:                                "role is required",
		`{"role":"replica","lag":1.5}`:      `"lag"`,
		`{"role":"replica","lag":1e3}`:      `"lag"`,
		`{"role":"replica","offset":-1}`:    `"offset"`,
		`{"role":"replica","lag":"1"}`:      `"lag"`,
		`{"role":"replica","lag":18446744073709551616}`: `"lag"`,
		`{"role":"replica","link_up":"yes"}`:            `"link_up"`,
		`{"role":"replica","lag_at":"yesterday"}`:       `"lag_at": want an RFC 3339 time`,
		`{"role":"replica","lag_at":1714557600}`:        `"lag_at"`,
		`{"role":"replica","detail":{}}`:                `"detail"`,
		`{"role" "primary"}`:                            "expected colon",
	} {
		if _, err := decodeStatus([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one with %q", in, err, want)
		}
	}
}

// FuzzStatus: the decoder never panics; what it accepts has a valid role,
// is what encoding/json reads too, and survives encoding and decoding.
func FuzzStatus(f *testing.F) {
	for _, s := range []string{
		`{"role":"primary"}`,
		`{"role":"replica","following":"b","link_up":true,"lag":12,"lag_at":"2024-05-01T10:00:00Z","offset":3,"detail":"UpToDate"}`,
		`{"role":"down","detail":"drbdadm: no such resource","lag_at":null}`,
		`{"role":"fenced","lag_at":"2024-05-01T10:00:00.123456789-07:00"} `,
		`{"role":"primary","role":"down"}`,
		`{"Role":"primary"}`,
		`{"role":"replica","lag":-1}`,
		`{"role":"primary"} {}`,
		`{"role":"replica","detail":"\u00e9\ud800"}`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeStatus(b)
		if err != nil {
			if st != (driver.Status{}) {
				t.Fatalf("error %v with a status %+v", err, st)
			}
			return
		}
		switch st.Role {
		case driver.RolePrimary, driver.RoleFenced, driver.RoleReplica, driver.RoleDown:
		default:
			t.Fatalf("accepted role %q", st.Role)
		}
		var j statusJSON
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", b, err)
		}
		if j.Role != string(st.Role) || j.Following != st.Following || j.LinkUp != st.LinkUp ||
			j.Lag != st.Lag || j.Offset != st.Offset || j.Detail != st.Detail {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", b, st, j)
		}
		again, err := decodeStatus(encodeStatus(st))
		if err != nil {
			t.Fatalf("%+v encoded as %s does not decode: %v", st, encodeStatus(st), err)
		}
		if d := cmp.Diff(st, again); d != "" {
			t.Fatalf("round trip of %q (-first +again):\n%s", b, d)
		}
	})
}
