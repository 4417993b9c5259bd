package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unicode"
)

// Key file limits.
const (
	MinKeyLen = 16 // bytes
	MaxKeyLen = 64 // bytes
	MaxKeys   = 2  // the send key and, during a rotation, one more accepted key

	maxKeyFileSize = 64 << 10
)

// LoadKeys reads the cluster key file at path. The file must be a regular,
// non-empty file that others cannot access and its group cannot write
// (0600 or 0640). Its content is read by ParseKeys: keys[0] signs what
// this node sends; every key is accepted on receive.
func LoadKeys(path string) ([][]byte, error) {
	// O_NONBLOCK: opening a FIFO must not hang; it is refused below.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("key file %s does not exist", path)
		}
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	mode := fi.Mode()
	switch {
	case !mode.IsRegular():
		return nil, fmt.Errorf("key file %s is not a regular file (mode %v)", path, mode)
	case mode.Perm()&0o007 != 0:
		return nil, fmt.Errorf("key file %s has mode %04o: it must not be readable or writable by others (chmod 600)", path, mode.Perm())
	case mode.Perm()&0o020 != 0:
		return nil, fmt.Errorf("key file %s has mode %04o: it must not be writable by its group (chmod 600 or 640)", path, mode.Perm())
	case fi.Size() == 0:
		return nil, fmt.Errorf("key file %s is empty: it must hold a hex-encoded key of %d to %d bytes", path, MinKeyLen, MaxKeyLen)
	case fi.Size() > maxKeyFileSize:
		return nil, fmt.Errorf("key file %s is %d bytes long: not a key file", path, fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return ParseKeys(data, path)
}

// ParseKeys reads a key file's content: one or two keys, one per line,
// each hex-encoded and MinKeyLen to MaxKeyLen bytes long. Blank lines and
// lines starting with # are ignored. The two keys must differ. Errors
// name the file and line, never the key.
func ParseKeys(data []byte, file string) ([][]byte, error) {
	if file == "" {
		file = "<keys>"
	}
	var (
		keys    [][]byte
		keyLine []int
		errs    []error
	)
	fail := func(line int, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := i + 1
		s := bytes.TrimSpace(raw)
		if len(s) == 0 || s[0] == '#' {
			continue
		}
		lead := len(raw) - len(bytes.TrimLeftFunc(raw, unicode.IsSpace))
		key, err := decodeHexKey(s, lead)
		if err != nil {
			fail(line, "%v", err)
			continue
		}
		if first := indexKey(keys, key); first >= 0 {
			fail(line, "same key as line %d: a rotation needs two different keys", keyLine[first])
			continue
		}
		if len(keys) == MaxKeys {
			fail(line, "more than %d keys: the file holds the current key and, during a rotation, the next one", MaxKeys)
			continue
		}
		keys = append(keys, key)
		keyLine = append(keyLine, line)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keys) == 0 {
		return nil, &Error{File: file, Msg: fmt.Sprintf("no key found: write one hex-encoded key of %d to %d bytes per line", MinKeyLen, MaxKeyLen)}
	}
	return keys, nil
}

// decodeHexKey decodes one trimmed line that started with lead blanks.
// Its error does not quote the line: it may be a secret.
func decodeHexKey(s []byte, lead int) ([]byte, error) {
	for i, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return nil, fmt.Errorf("not a hex-encoded key: invalid character at column %d", lead+i+1)
		}
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("not a hex-encoded key: odd number of hex digits (%d)", len(s))
	}
	n := len(s) / 2
	if n < MinKeyLen || n > MaxKeyLen {
		return nil, fmt.Errorf("key is %d bytes long: keys must be %d to %d bytes (%d to %d hex digits)",
			n, MinKeyLen, MaxKeyLen, 2*MinKeyLen, 2*MaxKeyLen)
	}
	key := make([]byte, n)
	if _, err := hex.Decode(key, s); err != nil {
		return nil, errors.New("not a hex-encoded key") // unreachable: checked above
	}
	return key, nil
}

func indexKey(keys [][]byte, k []byte) int {
	for i, x := range keys {
		if bytes.Equal(x, k) {
			return i
		}
	}
	return -1
}
