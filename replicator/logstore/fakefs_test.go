package logstore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

var errCrashed = errors.New("fakefs: crashed")

// fakeFS is an in-memory file system that models what survives a power cut:
// file data only up to its last Sync, directory entries only up to the last
// SyncDir. It counts mutating operations and "crashes" at a chosen one: that
// operation and every later one fail.
type fakeFS struct {
	mu      sync.Mutex
	cur     map[string]*inode // directory view now
	durable map[string]*inode // directory view as of the last SyncDir
	ops     int
	crashAt int // -1: never
	log     []string
}

type inode struct {
	data, synced []byte
}

func newFakeFS() *fakeFS {
	return &fakeFS{cur: map[string]*inode{}, durable: map[string]*inode{}, crashAt: -1}
}

// op counts a mutating operation and says whether it may proceed.
func (f *fakeFS) op(what string) error {
	if f.crashAt >= 0 && f.ops >= f.crashAt {
		f.ops++
		return errCrashed
	}
	f.ops++
	f.log = append(f.log, what)
	return nil
}

type crashMode int

const (
	keepSynced crashMode = iota // power cut: only what was synced
	keepTorn                    // power cut, plus half of each file's unsynced appended tail
	keepAll                     // kill -9: the page cache survives
)

// afterCrash returns the file system a reboot would see.
func (f *fakeFS) afterCrash(m crashMode) *fakeFS {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := newFakeFS()
	dirs := f.durable
	if m == keepAll {
		dirs = f.cur
	}
	copied := map[*inode]*inode{}
	for name, in := range dirs {
		if c, ok := copied[in]; ok {
			g.cur[name], g.durable[name] = c, c
			continue
		}
		data := in.synced
		switch m {
		case keepAll:
			data = in.data
		case keepTorn:
			if len(in.data) > len(in.synced) && bytes.HasPrefix(in.data, in.synced) {
				data = in.data[:len(in.synced)+(len(in.data)-len(in.synced)+1)/2]
			}
		}
		c := &inode{data: bytes.Clone(data), synced: bytes.Clone(data)}
		copied[in] = c
		g.cur[name], g.durable[name] = c, c
	}
	return g
}

type fakeFile struct {
	fs   *fakeFS
	name string
	in   *inode
}

func (f *fakeFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.cur[name]
	if !ok {
		if flag&os.O_CREATE == 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		if err := f.op("create " + name); err != nil {
			return nil, err
		}
		in = &inode{}
		f.cur[name] = in
	} else if flag&os.O_TRUNC != 0 && len(in.data) > 0 {
		if err := f.op("trunc " + name); err != nil {
			return nil, err
		}
		in.data = nil
	}
	return &fakeFile{fs: f, name: name, in: in}, nil
}

func (f *fakeFS) Rename(o, n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.cur[o]
	if !ok {
		return &os.PathError{Op: "rename", Path: o, Err: os.ErrNotExist}
	}
	if err := f.op("rename " + o); err != nil {
		return err
	}
	delete(f.cur, o)
	f.cur[n] = in
	return nil
}

func (f *fakeFS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.cur[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	if err := f.op("remove " + name); err != nil {
		return err
	}
	delete(f.cur, name)
	return nil
}

func (f *fakeFS) ReadDir(dir string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.cur {
		if filepath.Dir(n) == filepath.Clean(dir) {
			names = append(names, filepath.Base(n))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (f *fakeFS) MkdirAll(string, os.FileMode) error { return nil }

func (f *fakeFS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("syncdir"); err != nil {
		return err
	}
	for n := range f.durable {
		if strings.HasPrefix(n, dir) {
			delete(f.durable, n)
		}
	}
	for n, in := range f.cur {
		if strings.HasPrefix(n, dir) {
			f.durable[n] = in
		}
	}
	return nil
}

func (h *fakeFile) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if off >= int64(len(h.in.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.in.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *fakeFile) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.op("write " + h.name); err != nil {
		return 0, err
	}
	if end := off + int64(len(p)); end > int64(len(h.in.data)) {
		h.in.data = append(h.in.data, make([]byte, end-int64(len(h.in.data)))...)
	}
	copy(h.in.data[off:], p)
	return len(p), nil
}

func (h *fakeFile) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.op("truncate " + h.name); err != nil {
		return err
	}
	if size < int64(len(h.in.data)) {
		h.in.data = h.in.data[:size]
	} else {
		h.in.data = append(h.in.data, make([]byte, size-int64(len(h.in.data)))...)
	}
	return nil
}

func (h *fakeFile) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.op("sync " + h.name); err != nil {
		return err
	}
	h.in.synced = bytes.Clone(h.in.data)
	return nil
}

func (h *fakeFile) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return int64(len(h.in.data)), nil
}

func (h *fakeFile) Close() error { return nil }
