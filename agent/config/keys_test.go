package config

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var (
	key16 = strings.Repeat("0f", 16)
	key64 = strings.Repeat("A5", 64)
)

func writeKeyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // not subject to the umask
		t.Fatal(err)
	}
	return path
}

func TestLoadKeys(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    int    // number of keys, when wantErr is ""
		wantErr string // substring of the error
	}{
		{"one key 0600", key16 + "\n", 0o600, 1, ""},
		{"two keys 0400", key16 + "\n" + key64 + "\n", 0o400, 2, ""},
		{"group-readable 0640 is accepted", key16 + "\n", 0o640, 1, ""},
		{"mode 0644", key16 + "\n", 0o644, 0, "has mode 0644: it must not be readable or writable by others (chmod 600)"},
		{"other-writable 0602", key16 + "\n", 0o602, 0, "has mode 0602: it must not be readable or writable by others"},
		{"group-writable 0660", key16 + "\n", 0o660, 0, "has mode 0660: it must not be writable by its group (chmod 600 or 640)"},
		{"empty", "", 0o600, 0, "is empty"},
		{"only comments", "# no key yet\n\n", 0o600, 0, "no key found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeKeyFile(t, tt.content, tt.mode)
			keys, err := LoadKeys(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want it to name %s and contain %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != tt.want {
				t.Fatalf("got %d keys, want %d", len(keys), tt.want)
			}
		})
	}
}

func TestLoadKeysNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKeys(filepath.Join(dir, "missing.key")); err == nil || !strings.Contains(err.Error(), "missing.key does not exist") {
		t.Errorf("missing: err = %v", err)
	}
	if _, err := LoadKeys(dir); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("directory: err = %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Must not block waiting for a writer.
	if _, err := LoadKeys(fifo); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("fifo: err = %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := key16, key64
	tests := []struct {
		name    string
		content string
		want    []string // hex of the keys, in order
		wantErr []string // one per error line
	}{
		{"one key", k1, []string{k1}, nil},
		{"comments, blanks, CRLF, spaces, upper case", "# current\r\n\r\n  " + k1 + "  \r\n# next\n\t" + k2 + "\n", []string{k1, strings.ToLower(k2)}, nil},
		{"no key", "# only a comment\n", nil, []string{"k: no key found"}},
		{"three keys", k1 + "\n" + k2 + "\n" + strings.Repeat("11", 20) + "\n", nil,
			[]string{"k:3: more than 2 keys"}},
		{"identical keys", k1 + "\n\n" + strings.ToUpper(k1) + "\n", nil,
			[]string{"k:3: same key as line 1"}},
		{"bad hex", "# c\n  " + k1[:10] + "zz" + k1[12:] + "\n", nil,
			[]string{"k:2: not a hex-encoded key: invalid character at column 13"}},
		{"odd length", k1 + "0\n", nil, []string{"k:1: not a hex-encoded key: odd number of hex digits (33)"}},
		{"too short", strings.Repeat("ab", 15), nil, []string{"k:1: key is 15 bytes long: keys must be 16 to 64 bytes (32 to 128 hex digits)"}},
		{"too long", strings.Repeat("ab", 65), nil, []string{"k:1: key is 65 bytes long"}},
		{"inline comment is not allowed", k1 + " # current", nil, []string{"k:1: not a hex-encoded key: invalid character at column 33"}},
		{"several problems", "ab\n" + k1 + "\n" + strings.Repeat("ab", 8) + "\n", nil,
			[]string{"k:1: key is 1 bytes long", "k:3: key is 8 bytes long"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(tt.content), "k")
			if tt.wantErr != nil {
				if keys != nil {
					t.Errorf("keys returned with an error")
				}
				checkErrors(t, err, "k", tt.wantErr)
				if err != nil && (strings.Contains(err.Error(), k1[:12]) || strings.Contains(err.Error(), k2[:12])) {
					t.Errorf("error quotes key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(keys), len(tt.want))
			}
			for i, w := range tt.want {
				if got := hex.EncodeToString(keys[i]); got != strings.ToLower(w) {
					t.Errorf("key %d = %s, want %s", i, got, strings.ToLower(w))
				}
			}
		})
	}
}
