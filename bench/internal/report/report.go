// Package report renders benchmark results as markdown and aligned text
// tables and writes them, with the raw results as JSON, to a directory.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// Table is one block of a report: a title, an optional table and notes
// (paragraphs) under it.
type Table struct {
	Title string
	Head  []string
	Rows  [][]string
	Notes []string
}

// Markdown writes t as a markdown section.
func (t Table) Markdown(w io.Writer) {
	fmt.Fprintf(w, "### %s\n\n", t.Title)
	if len(t.Head) > 0 {
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(t.Head, " | "), strings.Repeat("---|", len(t.Head)))
		for _, r := range t.Rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
		}
		fmt.Fprintln(w)
	}
	for _, n := range t.Notes {
		fmt.Fprintf(w, "%s\n\n", n)
	}
}

// Text writes t as aligned plain text.
func (t Table) Text(w io.Writer) {
	fmt.Fprintf(w, "== %s\n", t.Title)
	if len(t.Head) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Head, "\t"))
		for _, r := range t.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
	}
	for _, n := range t.Notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w)
}

// OtherBusyWarn is the share of the machine (%) other work may use during
// an idle measurement before a report flags it.
const OtherBusyWarn = 5

// Verdict is a target's result cell.
func Verdict(met bool) string {
	if met {
		return "met"
	}
	return "**MISSED**"
}

// F3 formats x with three decimals.
func F3(x float64) string { return fmt.Sprintf("%.3f", x) }

// F1 formats x with one decimal.
func F1(x float64) string { return fmt.Sprintf("%.1f", x) }

// Write writes results as dir/<name>.json and the tables as
// dir/<name>.md under a first-level heading.
func Write(dir, name, heading string, results any, tables []Table) error {
	js, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	fmt.Fprintf(&md, "# %s\n\n", heading)
	for _, t := range tables {
		t.Markdown(&md)
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), md.Bytes(), 0o644)
}

// Print writes the tables to w as aligned text.
func Print(w io.Writer, tables []Table) {
	for _, t := range tables {
		t.Text(w)
	}
}
