package render

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// gap is the space between two columns.
const gap = 2

// table lays out rows of cells in aligned columns. Column widths are the
// widest cell of each column (at least min), so the output stays aligned
// whatever the names are, and every row keeps the same column order.
type table struct {
	min   []int  // minimum width per column; missing means 0
	right []bool // right-align the column (numbers); missing means left
	rows  []row
}

// row is either cells (prefixed with prefix) or, when note is set, a free
// text line starting where column noteCol starts; notes do not widen columns.
type row struct {
	prefix  string
	cells   []string
	note    string
	noteCol int
}

func (t *table) add(prefix string, cells ...string) {
	t.rows = append(t.rows, row{prefix: prefix, cells: cells})
}

// addNote adds a line of text indented to the start of column col.
func (t *table) addNote(prefix string, col int, text string) {
	t.rows = append(t.rows, row{prefix: prefix, note: text, noteCol: col})
}

func (t *table) widths() []int {
	w := make([]int, len(t.min))
	copy(w, t.min)
	for _, r := range t.rows {
		for i, c := range r.cells {
			for i >= len(w) {
				w = append(w, 0)
			}
			if n := utf8.RuneCountInString(c); n > w[i] {
				w[i] = n
			}
		}
	}
	return w
}

// write appends the table to b. Trailing blanks are trimmed from every line.
func (t *table) write(b *bytes.Buffer) {
	w := t.widths()
	var line strings.Builder
	for _, r := range t.rows {
		line.Reset()
		line.WriteString(r.prefix)
		if r.note != "" {
			for i := 0; i < r.noteCol && i < len(w); i++ {
				line.WriteString(strings.Repeat(" ", w[i]+gap))
			}
			line.WriteString(r.note)
		}
		for i, c := range r.cells {
			pad := strings.Repeat(" ", w[i]-utf8.RuneCountInString(c))
			if i < len(t.right) && t.right[i] {
				line.WriteString(pad)
				line.WriteString(c)
			} else {
				line.WriteString(c)
				line.WriteString(pad)
			}
			if i < len(r.cells)-1 {
				line.WriteString(strings.Repeat(" ", gap))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
}
