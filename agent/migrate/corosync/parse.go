package corosync

import (
	"bytes"
	"fmt"
	"strings"
)

// The syntax is corosync's own (exec/coroparse.c, parse_section), line by
// line, so that a file corosync accepts parses here the same way and a file
// it refuses is refused here with its message:
//
//   - a line is at most 510 bytes ("Line too long": corosync reads lines
//     with fgets into 512 bytes); a trailing CR is dropped; a NUL ends the
//     line, as it ends a C string;
//   - blanks are space, tab and the byte 0xA0; trailing blanks are dropped;
//   - a line whose first non-blank byte is '#' is a comment, and so is an
//     empty line; there are no comments after a value ("token: 3000 # ms"
//     is the value "3000 # ms", which corosync then refuses as a number);
//   - a line holding '{' opens a section: the name is what comes before,
//     blanks and a trailing ':' trimmed ("totem {", "totem: {"); nothing may
//     follow the '{', so a section cannot be written on one line;
//   - otherwise a line holding ':' is "key: value", split at the first ':'
//     (the value may hold more: IPv6 addresses); "key = value" is not
//     corosync syntax and is refused;
//   - otherwise a line holding '}' must be exactly "}" and closes the
//     innermost section;
//   - anything else is an error, and so is a missing or extra '}'.
//
// Quotes mean nothing to corosync: `cluster_name: "prod"` names the cluster
// `"prod"`, quotes included. Values are kept as corosync keeps them; the
// conversion says so where a quoted value matters.

// Corosync's limits.
const (
	maxLineLen = 510 // bytes of a line without its newline
	maxPathLen = 255 // ICMAP_KEYNAME_MAXLEN: a dotted path must be shorter
)

// File is a parsed corosync.conf.
type File struct {
	Name string   // the path, for messages
	Root *Section // the top level: Name "", Line 0
	// Lines is the number of lines read.
	Lines int
}

// Section is `name { ... }`.
type Section struct {
	Name  string
	Path  string // dotted, as cmap names it: "totem.interface"
	Line  int    // of the opening line; 0 for the top level
	End   int    // of the closing "}"
	Items []*Item
}

// Item is one line of a section: a key and its value, or a subsection.
type Item struct {
	Key     string
	Value   string
	Line    int
	Section *Section // non-nil for a subsection; Key is then its name
}

// SyntaxError is a line corosync would refuse.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s (corosync refuses this file too)", e.File, e.Line, e.Msg)
}

// Parse reads a corosync.conf. name is the file's path, used in messages.
func Parse(data []byte, name string) (*File, error) {
	f := &File{Name: name, Root: &Section{}}
	stack := []*Section{f.Root}
	lineNo := 0
	fail := func(msg string) error { return &SyntaxError{File: name, Line: lineNo, Msg: msg} }
	for len(data) > 0 {
		lineNo++
		var line []byte
		i := bytes.IndexByte(data, '\n')
		if i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		if len(line) > maxLineLen {
			return nil, fail("Line too long")
		}
		// C sees a NUL as the end of the line: corosync then misses the
		// newline and reports the line as too long, unless the NUL is
		// the line's first byte (an empty line) or the file ends there.
		if z := bytes.IndexByte(line, 0); z >= 0 {
			if z > 0 && i >= 0 {
				return nil, fail("Line too long (a NUL byte inside the line)")
			}
			line = line[:z]
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		s := trimRight(string(line), false)
		if t := trimLeft(s); t == "" || t[0] == '#' {
			continue
		}
		cur := stack[len(stack)-1]
		if i := strings.IndexByte(s, '{'); i >= 0 {
			sect := trimBoth(s[:i], true)
			switch {
			case sect == "":
				return nil, fail("Missing section name before opening bracket '{'")
			case trimLeft(s[i+1:]) != "":
				return nil, fail("Extra characters after opening bracket '{'")
			case len(cur.Path)+len(sect)+1 >= maxPathLen:
				return nil, fail("Start of section makes total cmap path too long")
			}
			sub := &Section{Name: sect, Path: join(cur.Path, sect), Line: lineNo}
			cur.Items = append(cur.Items, &Item{Key: sect, Line: lineNo, Section: sub})
			stack = append(stack, sub)
			continue
		}
		if i := strings.IndexByte(s, ':'); i >= 0 {
			key := trimBoth(keyPart(s, i), true)
			switch {
			case key == "":
				return nil, fail("Key name can't be empty")
			case len(cur.Path)+len(key)+1 >= maxPathLen:
				return nil, fail("New key makes total cmap path too long")
			}
			cur.Items = append(cur.Items, &Item{Key: key, Value: trimLeft(s[i+1:]), Line: lineNo})
			continue
		}
		if strings.IndexByte(s, '}') >= 0 {
			if trimLeft(s) != "}" {
				return nil, fail("Extra characters before or after closing bracket '}'")
			}
			if len(stack) == 1 {
				return nil, fail("Unexpected closing brace")
			}
			cur.End = lineNo
			stack = stack[:len(stack)-1]
			continue
		}
		return nil, fail("Line is not opening or closing section or key value")
	}
	f.Lines = lineNo
	if len(stack) > 1 {
		open := stack[len(stack)-1]
		return nil, &SyntaxError{File: name, Line: lineNo,
			Msg: fmt.Sprintf("Missing closing brace (section %s opened at line %d)", open.Path, open.Line)}
	}
	return f, nil
}

// keyPart is what corosync hands to its key trimming for "key: value"
// with the first ':' at i: the text before the ':', or, when blanks follow
// the ':', the ':' itself and all but the last of them (coroparse.c ends
// the key at the byte before the value). Only the degenerate ": value"
// differs from s[:i]: its key is ":".
func keyPart(s string, i int) string {
	j := i + 1
	for j < len(s) && isBlank(s[j]) {
		j++
	}
	return s[:j-1]
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// isBlank is corosync's idea of white space.
func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == 0xA0 }

func trimLeft(s string) string {
	for len(s) > 0 && isBlank(s[0]) {
		s = s[1:]
	}
	return s
}

// trimRight drops trailing blanks and, for section and key names, trailing
// ':' and '{' — never the first byte (coroparse.c's remove_whitespace).
func trimRight(s string, colonBrace bool) string {
	for len(s) > 1 {
		c := s[len(s)-1]
		if !isBlank(c) && !(colonBrace && (c == ':' || c == '{')) {
			break
		}
		s = s[:len(s)-1]
	}
	if len(s) == 1 && isBlank(s[0]) {
		return ""
	}
	return s
}

func trimBoth(s string, colonBrace bool) string { return trimRight(trimLeft(s), colonBrace) }
