package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// FileName is the history file under the replicator's directory.
const FileName = "failover-history.jsonl"

// maxLine bounds one record (a link table of 64 nodes x 8 networks fits).
const maxLine = 1 << 20

// Log appends records to one file. Safe for concurrent use.
type Log struct {
	path string

	mu     sync.Mutex
	f      *os.File
	last   map[string]Record // by resource: the last record appended
	byKind map[[2]string]Record
}

// Open opens (creating) the history in dir and reads the last record of
// each resource, so a restart does not repeat a refusal already recorded.
func Open(dir string) (*Log, error) {
	path := filepath.Join(dir, FileName)
	recs, _, err := Read(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("failover history: %w", err)
	}
	// After a torn append the file ends mid-line: end that line first, or
	// the next record would be glued to the fragment and lost with it.
	if err := endLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("failover history: %w", err)
	}
	l := &Log{path: path, f: f, last: map[string]Record{}, byKind: map[[2]string]Record{}}
	for _, r := range recs {
		l.last[r.Resource] = r
		l.byKind[[2]string{r.Resource, r.Action}] = r
	}
	return l, nil
}

// Last returns the last record of resource with action (a state the
// history holds across restarts, such as a resignation).
func (l *Log) Last(resource, action string) (Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.byKind[[2]string{resource, action}]
	return r, ok
}

// Append writes r and fsyncs it, unless it repeats the resource's last
// record (Same); it reports whether it wrote. The caller acts on a
// decision only after Append returned without error.
func (l *Log) Append(r Record) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.last[r.Resource]; ok && r.Same(prev) {
		return false, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	if len(b) >= maxLine {
		return false, fmt.Errorf("failover history: a record of %d bytes", len(b))
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return false, fmt.Errorf("failover history: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return false, fmt.Errorf("failover history: %w", err)
	}
	l.last[r.Resource] = r
	l.byKind[[2]string{r.Resource, r.Action}] = r
	return true, nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// Read returns every record of the history at path, oldest first, and
// the number of lines it skipped (torn or not a record).
func Read(path string) ([]Record, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	return Decode(f)
}

// Decode reads JSON lines of records; a line that does not decode is
// skipped and counted (a crash mid-append tears only the last one).
func Decode(r io.Reader) ([]Record, int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Record
	skipped := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than a record can be: skip to the next newline.
			skipped++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == nil {
				continue
			}
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var rec Record
			if json.Unmarshal(line, &rec) == nil && rec.Resource != "" && !rec.Time.IsZero() {
				out = append(out, rec)
			} else {
				skipped++
			}
		}
		if errors.Is(err, io.EOF) {
			return out, skipped, nil
		}
		if err != nil {
			return out, skipped, err
		}
	}
}

// endLine appends a newline to f (opened for appending) unless it is empty
// or already ends with one.
func endLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return err
	}
	defer r.Close()
	var last [1]byte
	if _, err := r.ReadAt(last[:], st.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return err
	}
	return f.Sync()
}
