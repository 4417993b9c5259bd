package agent

// The event catalogue (docs/EVENTS.md) and the code must list the same
// event ids. This test reads both; it needs no network and no tool.
//
// The code: every non-test .go file under agent/, links/, llt/ and cmd/ of
// the module (testdata and hidden directories skipped) is parsed, and
//
//   - every key/value list is scanned: the arguments of a call and the
//     elements of a composite literal ([]any{...}). A string literal
//     "event" in it must be followed by the id, which is
//   - a string literal ("tcp.down"): that is an id;
//   - a constant named Ev<Upper>... (EvLinkDown, logsink.EvDropped) of
//     this package or of a package of the module the file imports;
//   - a plain identifier (a variable): every assignment to it in the
//     enclosing top-level function (closures included) must be such a
//     constant, and it must not be a parameter or a range variable;
//   - anything else (a call, a concatenation, a field, a package-level
//     variable) is an error: an id must be visible in the source.
//
//   - The value of every constant named Ev<Upper>... must be a string
//     literal; all of them are ids (what the variables above can hold).
//   - A string literal "event" anywhere else (a const, a struct field key,
//     a map index) is an error: an id could slip past the scan.
//   - Every id has the form word.word (lower case, digits, '_').
//
// The catalogue: docs/EVENTS.md, outside fenced code blocks,
//
//   - every level-3 heading ("### ") is exactly one event id, not
//     backquoted, with nothing else on the line: "### link.down". No other
//     level-3 heading may appear; each id has one heading;
//   - the table after "## Index" lists the same ids, backquoted, in its
//     first column;
//   - the table after the one "#### Reasons" heading has a column headed
//     "reason" holding every llt reason id (llt.Reason(1..NumReasons-1)),
//     backquoted, each once, and nothing else.
//
// The test fails with the ids the code emits that the catalogue lacks, and
// the ids the catalogue lists that the code never emits.

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-ha/tether/llt"
)

const catalogueFile = "docs/EVENTS.md"

var (
	eventIDRe  = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	evConstRe  = regexp.MustCompile(`^Ev[A-Z0-9_]`)
	scannedDir = []string{"agent", "links", "llt", "cmd", "replicator"}
)

func TestEventCatalogue(t *testing.T) {
	root, module := moduleRoot(t)
	code := scanEventIDs(t, root, module)
	for _, e := range code.errs {
		t.Error(e)
	}
	doc := readCatalogue(t, filepath.Join(root, catalogueFile))
	for _, e := range doc.errs {
		t.Errorf("%s: %s", catalogueFile, e)
	}

	var missing, extra []string
	for id := range code.ids {
		if !doc.ids[id] {
			missing = append(missing, fmt.Sprintf("%s (%s)", id, strings.Join(code.ids[id], ", ")))
		}
	}
	for id := range doc.ids {
		if _, ok := code.ids[id]; !ok {
			extra = append(extra, id)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("event ids the code emits but %s lacks (add a \"### id\" section and an index row):\n\t%s",
			catalogueFile, strings.Join(missing, "\n\t"))
	}
	if len(extra) > 0 {
		t.Errorf("event ids %s lists but the code never emits (a typo, or an id that was removed):\n\t%s",
			catalogueFile, strings.Join(extra, "\n\t"))
	}

	// Informational: not failures, but worth a look.
	if len(code.unusedConsts) > 0 {
		t.Logf("Ev constants never logged directly as an \"event\" value (counted as ids anyway): %s",
			strings.Join(code.unusedConsts, ", "))
	}
	if len(code.noEvent) > 0 {
		t.Logf("log calls that seem to carry no \"event\" attribute:\n\t%s", strings.Join(code.noEvent, "\n\t"))
	}
}

func TestEventCatalogueReasons(t *testing.T) {
	root, _ := moduleRoot(t)
	doc := readCatalogue(t, filepath.Join(root, catalogueFile))
	if doc.reasons == nil {
		t.Fatalf("%s: no reasons table (a table with a \"reason\" column after \"#### Reasons\")", catalogueFile)
	}
	want := map[string]bool{}
	for i := 1; i < llt.NumReasons; i++ {
		id := llt.Reason(i).String()
		want[id] = true
		if !slices.Contains(doc.reasons, id) {
			t.Errorf("%s: reason %q (llt.Reason(%d)) is missing from the reasons table", catalogueFile, id, i)
		}
	}
	seen := map[string]bool{}
	for _, r := range doc.reasons {
		if !want[r] {
			t.Errorf("%s: the reasons table lists %q, which is no llt reason", catalogueFile, r)
		}
		if seen[r] {
			t.Errorf("%s: the reasons table lists %q twice", catalogueFile, r)
		}
		seen[r] = true
	}
}

// moduleRoot finds the module root from the working directory (agent/
// when go test runs this package) and returns it with the module path.
func moduleRoot(t *testing.T) (string, string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for line := range strings.Lines(string(b)) {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
					return dir, f[1]
				}
			}
			t.Fatalf("%s/go.mod has no module line", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// codeScan is what the code says.
type codeScan struct {
	ids          map[string][]string // id -> where (file:line, or "const Name")
	errs         []string
	unusedConsts []string
	noEvent      []string
}

type goPackage struct {
	name   string
	files  []*ast.File
	consts map[string]string // Ev constant -> its value
}

func scanEventIDs(t *testing.T, root, module string) *codeScan {
	t.Helper()
	fset := token.NewFileSet()
	pkgs := map[string]*goPackage{} // by directory relative to root
	for _, top := range scannedDir {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if n := d.Name(); path != filepath.Join(root, top) && (n == "testdata" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			rel = filepath.ToSlash(rel)
			p := pkgs[rel]
			if p == nil {
				p = &goPackage{name: f.Name.Name, consts: map[string]string{}}
				pkgs[rel] = p
			}
			p.files = append(p.files, f)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(pkgs) == 0 {
		t.Fatalf("no Go files under %v of %s", scannedDir, root)
	}

	s := &codeScan{ids: map[string][]string{}}
	pos := func(n ast.Node) string {
		p := fset.Position(n.Pos())
		rel, err := filepath.Rel(root, p.Filename)
		if err != nil {
			rel = p.Filename
		}
		return fmt.Sprintf("%s:%d", filepath.ToSlash(rel), p.Line)
	}
	addID := func(id, where string) {
		if !eventIDRe.MatchString(id) {
			s.errs = append(s.errs, fmt.Sprintf("%s: event id %q is not of the form word.word (lower case)", where, id))
		}
		s.ids[id] = append(s.ids[id], where)
	}

	// Pass 1: the Ev constants of every package.
	for _, p := range pkgs {
		for _, f := range p.files {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !evConstRe.MatchString(name.Name) {
							continue
						}
						var v string
						if i < len(vs.Values) {
							v, ok = stringLit(vs.Values[i])
						} else {
							ok = false
						}
						if !ok {
							s.errs = append(s.errs, fmt.Sprintf("%s: constant %s: an Ev constant must have a string literal value (an event id)", pos(name), name.Name))
							continue
						}
						p.consts[name.Name] = v
						addID(v, p.name+"."+name.Name+" at "+pos(name))
					}
				}
			}
		}
	}

	// Pass 2: the key/value lists.
	used := map[string]bool{} // "dir.Name" of Ev constants logged
	for dir, p := range pkgs {
		for _, f := range p.files {
			imports := map[string]*goPackage{} // local name -> module package
			impDir := map[string]string{}
			for _, is := range f.Imports {
				path, _ := strconv.Unquote(is.Path.Value)
				if path != module && !strings.HasPrefix(path, module+"/") {
					continue
				}
				d := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
				ip := pkgs[d]
				if ip == nil {
					continue // a module package outside the scanned directories
				}
				local := ip.name
				if is.Name != nil {
					local = is.Name.Name
				}
				imports[local], impDir[local] = ip, d
			}
			// resolve returns the value of an Ev constant e names.
			resolve := func(e ast.Expr) (string, bool) {
				switch x := e.(type) {
				case *ast.Ident:
					if v, ok := p.consts[x.Name]; ok {
						used[dir+"."+x.Name] = true
						return v, true
					}
				case *ast.SelectorExpr:
					if id, ok := x.X.(*ast.Ident); ok {
						if ip := imports[id.Name]; ip != nil {
							if v, ok := ip.consts[x.Sel.Name]; ok {
								used[impDir[id.Name]+"."+x.Sel.Name] = true
								return v, true
							}
						}
					}
				}
				return "", false
			}
			consumed := map[*ast.BasicLit]bool{} // "event" literals in a key/value position
			for _, decl := range f.Decls {
				var stack []ast.Node
				ast.Inspect(decl, func(n ast.Node) bool {
					if n == nil {
						stack = stack[:len(stack)-1]
						return true
					}
					stack = append(stack, n)
					var list []ast.Expr
					switch x := n.(type) {
					case *ast.CallExpr:
						list = x.Args
						if isLogCall(x) && !mentionsEvent(x) {
							s.noEvent = append(s.noEvent, pos(x))
						}
					case *ast.CompositeLit:
						list = x.Elts
					default:
						return true
					}
					for i, a := range list {
						if k, ok := stringLit(a); !ok || k != "event" {
							continue
						}
						consumed[a.(*ast.BasicLit)] = true
						where := pos(a)
						if i+1 >= len(list) {
							s.errs = append(s.errs, where+`: "event" is the last element of its list: no id follows`)
							continue
						}
						val := list[i+1]
						if id, ok := stringLit(val); ok {
							addID(id, where)
							continue
						}
						if _, ok := resolve(val); ok {
							continue // counted with the constants
						}
						ident, ok := val.(*ast.Ident)
						if !ok {
							s.errs = append(s.errs, fmt.Sprintf("%s: the \"event\" value %s is neither a string literal, an Ev constant nor a variable assigned only from Ev constants",
								where, exprString(fset, val)))
							continue
						}
						var fn ast.Node
						if len(stack) > 0 {
							fn = stack[0] // the top-level declaration: closures included
						}
						if _, isFunc := fn.(*ast.FuncDecl); !isFunc {
							s.errs = append(s.errs, fmt.Sprintf("%s: \"event\" value %s outside a function: use an Ev constant", where, ident.Name))
							continue
						}
						for _, e := range checkVar(fset, fn, ident.Name, resolve) {
							s.errs = append(s.errs, fmt.Sprintf("%s: \"event\" value %s: %s", where, ident.Name, e))
						}
					}
					return true
				})
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if bl, ok := n.(*ast.BasicLit); ok && !consumed[bl] {
					if v, ok := stringLit(bl); ok && v == "event" {
						s.errs = append(s.errs, pos(bl)+`: the string "event" outside a key/value list (argument or []any element): the test cannot see the id it goes with`)
					}
				}
				return true
			})
		}
	}
	for dir, p := range pkgs {
		for name := range p.consts {
			if !used[dir+"."+name] {
				s.unusedConsts = append(s.unusedConsts, p.name+"."+name)
			}
		}
	}
	slices.Sort(s.unusedConsts)
	slices.Sort(s.noEvent)
	return s
}

// checkVar checks that every assignment to the variable name in fn (a
// top-level function, closures included) is an Ev constant.
func checkVar(fset *token.FileSet, fn ast.Node, name string, resolve func(ast.Expr) (string, bool)) []string {
	var errs []string
	assigned := 0
	at := func(n ast.Node) string { return fmt.Sprintf("line %d", fset.Position(n.Pos()).Line) }
	check := func(rhs ast.Expr) {
		assigned++
		if _, ok := resolve(rhs); !ok {
			errs = append(errs, fmt.Sprintf("assigned %s at %s, not an Ev constant", exprString(fset, rhs), at(rhs)))
		}
	}
	params := func(fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, f := range fl.List {
			for _, n := range f.Names {
				if n.Name == name {
					errs = append(errs, fmt.Sprintf("it is a parameter (%s): its value is not visible here", at(n)))
				}
			}
		}
	}
	ast.Inspect(fn, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncDecl:
			params(x.Recv)
			params(x.Type.Params)
			params(x.Type.Results)
		case *ast.FuncLit:
			params(x.Type.Params)
			params(x.Type.Results)
		case *ast.AssignStmt:
			for i, l := range x.Lhs {
				if id, ok := l.(*ast.Ident); !ok || id.Name != name {
					continue
				}
				if len(x.Rhs) != len(x.Lhs) || x.Tok != token.ASSIGN && x.Tok != token.DEFINE {
					assigned++
					errs = append(errs, fmt.Sprintf("assigned by %s at %s, not from an Ev constant", x.Tok, at(x)))
					continue
				}
				check(x.Rhs[i])
			}
		case *ast.ValueSpec:
			for i, id := range x.Names {
				if id.Name != name {
					continue
				}
				if len(x.Values) != len(x.Names) {
					assigned++
					errs = append(errs, fmt.Sprintf("declared at %s without an Ev constant value", at(id)))
					continue
				}
				check(x.Values[i])
			}
		case *ast.RangeStmt:
			for _, e := range []ast.Expr{x.Key, x.Value} {
				if id, ok := e.(*ast.Ident); ok && id.Name == name {
					assigned++
					errs = append(errs, fmt.Sprintf("a range variable (%s)", at(id)))
				}
			}
		case *ast.UnaryExpr:
			if id, ok := x.X.(*ast.Ident); ok && x.Op == token.AND && id.Name == name {
				errs = append(errs, fmt.Sprintf("its address is taken at %s: it may be set elsewhere", at(x)))
			}
		}
		return true
	})
	if assigned == 0 && len(errs) == 0 {
		errs = append(errs, "no assignment in the function: use an Ev constant or a literal")
	}
	return errs
}

var logMethods = map[string]bool{
	"Debug": true, "Info": true, "Warn": true, "Error": true, "Log": true, "LogAttrs": true,
	"DebugContext": true, "InfoContext": true, "WarnContext": true, "ErrorContext": true,
	"logf": true,
}

// isLogCall reports whether c looks like a call of a logger: x.log.Info,
// d.Log.Debug, ch.cfg.Log.Log, logger.Warn, ch.logf.
func isLogCall(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || !logMethods[sel.Sel.Name] {
		return false
	}
	if sel.Sel.Name == "logf" {
		return true
	}
	var recv string
	switch x := sel.X.(type) {
	case *ast.Ident:
		recv = x.Name
	case *ast.SelectorExpr:
		recv = x.Sel.Name
	}
	switch strings.ToLower(recv) {
	case "log", "logger", "lg":
		return true
	}
	return false
}

// mentionsEvent reports whether a log call has an "event" key in its
// arguments (or in a composite literal among them), or passes a spread
// list that may hold one.
func mentionsEvent(c *ast.CallExpr) bool {
	if c.Ellipsis.IsValid() {
		return true
	}
	found := false
	for _, a := range c.Args {
		ast.Inspect(a, func(n ast.Node) bool {
			if v, ok := stringLit(n); ok && v == "event" {
				found = true
			}
			return !found
		})
	}
	return found
}

func stringLit(n ast.Node) (string, bool) {
	bl, ok := n.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(bl.Value)
	return v, err == nil
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b strings.Builder
	_ = printer.Fprint(&b, fset, e)
	return b.String()
}

// catalogue is what docs/EVENTS.md says.
type catalogue struct {
	ids     map[string]bool
	reasons []string // nil: no reasons table
	errs    []string
}

func readCatalogue(t *testing.T, path string) *catalogue {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the event catalogue: %v", err)
	}
	c := &catalogue{ids: map[string]bool{}}
	var lines []string
	fenced := false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			lines = append(lines, "")
			continue
		}
		if fenced {
			line = "" // code samples are no headings or tables
		}
		lines = append(lines, line)
	}

	index := map[string]bool{}
	indexSeen, reasonsSeen := 0, 0
	for i, line := range lines {
		n := i + 1
		switch {
		case strings.HasPrefix(line, "### "):
			id := strings.TrimPrefix(line, "### ")
			if !eventIDRe.MatchString(id) {
				c.errs = append(c.errs, fmt.Sprintf("line %d: %q: a level-3 heading must be exactly one event id (### link.down), nothing else", n, line))
				continue
			}
			if c.ids[id] {
				c.errs = append(c.errs, fmt.Sprintf("line %d: %s has a second section", n, id))
			}
			c.ids[id] = true
		case strings.TrimSpace(line) == "## Index":
			indexSeen++
			rows, err := tableAfter(lines, i, "")
			if err != nil {
				c.errs = append(c.errs, fmt.Sprintf("line %d: the index: %v", n, err))
				continue
			}
			for _, r := range rows {
				id, ok := backquoted(r.cells[0])
				if !ok {
					c.errs = append(c.errs, fmt.Sprintf("line %d: the index row's first cell %q is not a backquoted id", r.line, r.cells[0]))
					continue
				}
				index[id] = true
			}
		case strings.TrimSpace(line) == "#### Reasons":
			reasonsSeen++
			rows, err := tableAfter(lines, i, "reason")
			if err != nil {
				c.errs = append(c.errs, fmt.Sprintf("line %d: the reasons table: %v", n, err))
				continue
			}
			c.reasons = []string{}
			for _, r := range rows {
				id, ok := backquoted(r.cells[0])
				if !ok {
					c.errs = append(c.errs, fmt.Sprintf("line %d: the reason cell %q is not a backquoted reason id", r.line, r.cells[0]))
					continue
				}
				c.reasons = append(c.reasons, id)
			}
		}
	}
	if indexSeen != 1 {
		c.errs = append(c.errs, fmt.Sprintf("want one \"## Index\" heading, found %d", indexSeen))
	}
	if reasonsSeen != 1 {
		c.errs = append(c.errs, fmt.Sprintf("want one \"#### Reasons\" heading, found %d", reasonsSeen))
	}
	for id := range c.ids {
		if !index[id] {
			c.errs = append(c.errs, fmt.Sprintf("%s has a section but no index row", id))
		}
	}
	for id := range index {
		if !c.ids[id] {
			c.errs = append(c.errs, fmt.Sprintf("the index lists %s, which has no \"### %s\" section", id, id))
		}
	}
	slices.Sort(c.errs)
	return c
}

type tableRow struct {
	line  int
	cells []string // cells[0] is the column asked for
}

// tableAfter returns the data rows of the first table after line i, the
// column headed col first in each ("" for the first column).
func tableAfter(lines []string, i int, col string) ([]tableRow, error) {
	j := i + 1
	for j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), "|") {
		if strings.HasPrefix(lines[j], "#") {
			return nil, fmt.Errorf("no table before the next heading (line %d)", j+1)
		}
		j++
	}
	if j+1 >= len(lines) {
		return nil, fmt.Errorf("no table")
	}
	header := splitRow(lines[j])
	k := 0
	if col != "" {
		k = slices.Index(header, col)
		if k < 0 {
			return nil, fmt.Errorf("line %d: no column headed %q in %q", j+1, col, lines[j])
		}
	}
	var rows []tableRow
	for j += 2; j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "|"); j++ {
		cells := splitRow(lines[j])
		if k >= len(cells) {
			return nil, fmt.Errorf("line %d: a row without column %d", j+1, k+1)
		}
		rows = append(rows, tableRow{line: j + 1, cells: append([]string{cells[k]}, cells...)})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("line %d: a table without rows", j+1)
	}
	return rows, nil
}

// splitRow splits a markdown table row into its trimmed cells. A "|"
// inside backquotes or escaped as "\|" does not split.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	var cells []string
	var cur strings.Builder
	inCode := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case ch == '`':
			inCode = !inCode
			cur.WriteByte(ch)
		case ch == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// backquoted returns x of a cell "`x`" or "[`x`](#anchor)".
func backquoted(cell string) (string, bool) {
	if strings.HasPrefix(cell, "[") {
		if k := strings.Index(cell, "]("); k > 0 && strings.HasSuffix(cell, ")") {
			cell = cell[1:k]
		}
	}
	if len(cell) < 3 || cell[0] != '`' || cell[len(cell)-1] != '`' || strings.Count(cell, "`") != 2 {
		return "", false
	}
	return cell[1 : len(cell)-1], true
}
