package corosync

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// flat lists a parsed file as "path key=value@line" and "path{@line-end".
func flat(s *Section) []string {
	var out []string
	for _, it := range s.Items {
		if it.Section != nil {
			out = append(out, fmt.Sprintf("%s{@%d-%d", it.Section.Path, it.Line, it.Section.End))
			out = append(out, flat(it.Section)...)
			continue
		}
		out = append(out, fmt.Sprintf("%s %s=%s@%d", s.Path, it.Key, it.Value, it.Line))
	}
	return out
}

// The forms corosync's parser (coroparse.c parse_section) accepts.
func TestParseAcceptsCorosyncForms(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"key: value, tabs, comments", "# top\n\t  # indented comment\ntotem {\n\tversion:\t2\n\n\tcluster_name:prod\n}\n",
			[]string{"totem{@3-7", "totem version=2@4", "totem cluster_name=prod@6"}},
		{"colon before the brace, nested, closing brace indented", "totem: {\n  interface {\n    linknumber: 0\n    }\n}",
			[]string{"totem{@1-5", "totem.interface{@2-4", "totem.interface linknumber=0@3"}},
		{"CRLF and trailing blanks", "totem {\r\n  token: 3000  \r\n}\r\n", []string{"totem{@1-3", "totem token=3000@2"}},
		{"0xA0 is a blank", "totem\xa0{\n\xa0token:\xa0\xa01000\xa0\n}\n", []string{"totem{@1-3", "totem token=1000@2"}},
		{"the value keeps colons, quotes and '#'", "nodelist {\n node {\n  ring0_addr: fd00::1\n  name: \"n 1\" # first\n }\n}\n",
			[]string{"nodelist{@1-6", "nodelist.node{@2-5", "nodelist.node ring0_addr=fd00::1@3", `nodelist.node name="n 1" # first@4`}},
		{"empty value", "totem {\n key:\n}\n", []string{"totem{@1-3", "totem key=@2"}},
		{"blanks around the key, and ': value' names the key ':'", "totem {\n  my key : v\n : w\n}\n",
			[]string{"totem{@1-4", "totem my key=v@2", "totem :=w@3"}},
		{"a NUL first is an empty line, at the end of the file it ends the line", "totem {\n\x00junk\n}\nquorum {\n}\nx: y\x00z",
			[]string{"totem{@1-3", "quorum{@4-5", " x=y@6"}},
		{"no newline at the end", "totem {\n}", []string{"totem{@1-2"}},
		{"the same section twice", "totem {\n}\ntotem {\n a: 1\n}\n", []string{"totem{@1-2", "totem{@3-5", "totem a=1@4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in), "c.conf")
			if err != nil {
				t.Fatal(err)
			}
			if got := flat(f.Root); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// What corosync refuses, with its message and the line.
func TestParseRefusesWhatCorosyncRefuses(t *testing.T) {
	long := "totem {\n token: " + strings.Repeat("1", 510-len(" token: ")+1) + "\n}\n"
	cases := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"key = value is not corosync syntax", "totem {\n token = 3000\n}\n", 2, "Line is not opening or closing section or key value"},
		{"a section on one line", "totem { version: 2 }\n", 1, "Extra characters after opening bracket '{'"},
		{"a brace alone", "{\n}\n", 1, "Missing section name before opening bracket '{'"},
		{"a value with a brace opens a section", "totem {\n key: {x}\n}\n", 2, "Extra characters after opening bracket '{'"},
		{"extra closing brace", "totem {\n}\n}\n", 3, "Unexpected closing brace"},
		{"two braces on a line", "a {\nb {\n} }\n", 3, "Extra characters before or after closing bracket '}'"},
		{"missing closing brace", "totem {\n  interface {\n  }\n", 3, "Missing closing brace (section totem opened at line 1)"},
		{"empty key", "totem {\n:v\n}\n", 2, "Key name can't be empty"},
		{"line too long", long, 2, "Line too long"},
		{"NUL inside a line", "totem {\n to\x00ken: 1\n}\n", 2, "Line too long"},
		{"cmap path too long", "a {\n" + strings.Repeat("k", 253) + ": 1\n}\n", 2, "New key makes total cmap path too long"},
		{"word alone", "totem {\n version\n}\n", 2, "Line is not opening"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), "/etc/corosync/corosync.conf")
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a syntax error", err)
			}
			if se.Line != tc.line || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("got line %d %q, want line %d %q", se.Line, se.Msg, tc.line, tc.msg)
			}
			if want := fmt.Sprintf("/etc/corosync/corosync.conf:%d: ", tc.line); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
		})
	}
	// The longest line corosync takes still parses.
	ok := "totem {\n token: " + strings.Repeat("1", 510-len(" token: ")) + "\n}\n"
	if _, err := Parse([]byte(ok), "c"); err != nil {
		t.Errorf("a 510-byte line: %v", err)
	}
}

func TestParseUint(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  uint64
		ok bool
	}{{"3000", 3000, true}, {"+5", 5, true}, {"007", 7, true}, {"-0", 0, true}, {" 1", 1, true},
		{"-1", 0, false}, {"0x10", 0, false}, {"3000ms", 0, false}, {"", 0, false}, {"4294967296", 0, false}, {`"3000"`, 0, false}} {
		n, ok := parseUint(tc.in, 1<<32-1)
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseUint(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
}
