package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Error is one problem found in a configuration or key file. Parse, Load,
// ParseKeys and LoadKeys return one *Error, or several joined with
// errors.Join (one per line of the message).
type Error struct {
	File string // file name as given ("<config>" or "<keys>" when parsed without a name)
	Line int    // 1-based; 0 when the problem has no line
	Path string // key path such as "networks[1].mtu"; "" for the whole document
	Msg  string
}

// Error formats the problem as "FILE:LINE: key.path: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// decodeFunc decodes one YAML value found at path.
type decodeFunc func(v *yaml.Node, path string)

// field describes one key of a YAML mapping.
type field struct {
	key      string
	required bool
	decode   decodeFunc
}

const (
	optional = false
	required = true
)

// walker walks a yaml.Node tree against a schema made of mapping, list and
// scalar decoders, and collects every problem with its line and key path.
type walker struct {
	file  string
	errs  []*Error
	lines map[string]int  // key path -> line where it was given
	bad   map[string]bool // key paths whose value is missing or wrong
	below map[string]bool // key paths with a bad path below them
}

func newWalker(file string) *walker {
	return &walker{file: file, lines: map[string]int{}, bad: map[string]bool{}, below: map[string]bool{}}
}

// errorf records a problem at line about path.
func (w *walker) errorf(line int, path, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// failf records that the value at path is wrong, at the line where path
// (or its nearest given ancestor) appears, and marks path bad so that
// checks across keys skip it.
func (w *walker) failf(path, format string, args ...any) {
	w.errorf(w.lineOf(path), path, format, args...)
	w.markBad(path)
}

// markBad marks path bad without reporting a problem.
func (w *walker) markBad(path string) {
	w.bad[path] = true
	for p := path; p != ""; {
		p = parent(p)
		w.below[p] = true
	}
}

// lineOf returns the line of path or of its nearest ancestor that was given.
func (w *walker) lineOf(path string) int {
	for {
		if l, ok := w.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parent(path)
	}
}

// given reports whether path appeared in the document.
func (w *walker) given(path string) bool {
	_, ok := w.lines[path]
	return ok
}

// ok reports whether path and every key below it were decoded without a
// problem, and none of its ancestors had one either.
func (w *walker) ok(path string) bool {
	if w.bad[path] || w.below[path] {
		return false
	}
	for p := path; p != ""; {
		p = parent(p)
		if w.bad[p] {
			return false
		}
	}
	return true
}

// maxReported bounds the problems listed in one error.
const maxReported = 50

// err returns nil or the problems, sorted by line, joined: at most
// maxReported of them, then a count of the others.
func (w *walker) err() error {
	if len(w.errs) == 0 {
		return nil
	}
	sort.SliceStable(w.errs, func(i, j int) bool { return w.errs[i].Line < w.errs[j].Line })
	errs := make([]error, 0, maxReported+1)
	for _, e := range w.errs[:min(len(w.errs), maxReported)] {
		errs = append(errs, e)
	}
	if n := len(w.errs) - maxReported; n > 0 {
		errs = append(errs, &Error{File: w.file, Msg: fmt.Sprintf("and %d more problems", n)})
	}
	return errors.Join(errs...)
}

// parent returns the path one level up: "a.b[2]" -> "a.b", "a.b" -> "a".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// child returns path.key. A key chosen by the user (a network name under
// addresses) is quoted unless it is plain printable ASCII, so that an
// error message stays one line.
func child(path, key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '"' }) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// deref follows an alias (*name) to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names a node's kind for error messages.
func describe(n *yaml.Node) string {
	switch {
	case n == nil || isNull(n):
		return "empty"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping decodes a mapping with the given keys. An empty value (null) is
// an empty mapping. Unknown, duplicate and missing required keys are errors.
func (w *walker) mapping(n *yaml.Node, path string, fields []field) {
	n = deref(n)
	var pairs []*yaml.Node
	switch {
	case isNull(n):
	case n.Kind == yaml.MappingNode:
		pairs = n.Content
	default:
		w.failf(path, "must be a mapping (key: value), not %s", describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		key, ok := w.key(k, path, seen)
		if !ok {
			continue
		}
		f := lookup(fields, key)
		if f == nil {
			w.errorf(k.Line, path, "unknown key %q%s", key, suggest(key, fields))
			continue
		}
		p := child(path, key)
		w.lines[p] = k.Line
		f.decode(v, p)
	}
	for _, f := range fields {
		if _, ok := seen[f.key]; !ok && f.required {
			w.errorf(w.lineOf(path), path, "missing required key %q", f.key)
			w.markBad(child(path, f.key))
		}
	}
}

// key checks one mapping key: a plain string, not a merge key, not seen yet.
func (w *walker) key(k *yaml.Node, path string, seen map[string]int) (string, bool) {
	k = deref(k)
	if k.Kind != yaml.ScalarNode || isNull(k) {
		w.errorf(k.Line, path, "a key must be a plain name, not %s", describe(k))
		return "", false
	}
	if k.Value == "<<" && k.Style == 0 {
		w.errorf(k.Line, path, "merge keys (<<) are not supported: write the keys out")
		return "", false
	}
	if first, dup := seen[k.Value]; dup {
		w.errorf(k.Line, path, "duplicate key %q, first given at line %d", k.Value, first)
		return "", false
	}
	seen[k.Value] = k.Line
	return k.Value, true
}

func lookup(fields []field, key string) *field {
	for i := range fields {
		if fields[i].key == key {
			return &fields[i]
		}
	}
	return nil
}

// suggest names the closest known key, or lists the known keys.
func suggest(key string, fields []field) string {
	best, dist := "", 3
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.key
		if d := editDistance(strings.ToLower(key), f.key); d < dist {
			best, dist = f.key, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known keys: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// list decodes a list, calling item for each element. An empty value
// (null) is an empty list.
func (w *walker) list(n *yaml.Node, path string, item func(i int, v *yaml.Node, path string)) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		w.failf(path, "must be a list, not %s", describe(n))
		return
	}
	for i, v := range n.Content {
		p := index(path, i)
		w.lines[p] = v.Line
		item(i, v, p)
	}
}

// dict decodes a mapping whose keys are names chosen by the user (such as
// network names), calling entry for each pair.
func (w *walker) dict(n *yaml.Node, path string, entry func(key string, v *yaml.Node, path string)) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		w.failf(path, "must be a mapping (name: value), not %s", describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, ok := w.key(k, path, seen)
		if !ok {
			continue
		}
		p := child(path, key)
		w.lines[p] = k.Line
		entry(key, v, p)
	}
}
