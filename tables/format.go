package tables

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// ParseError is a problem in table text, naming the table and line.
type ParseError struct {
	Table string
	Line  int
	Msg   string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s.csv line %d: %s", e.Table, e.Line, e.Msg)
}

// Dump writes t in tabdump format (xCAT's tabdump, docs/behaviour.md#table-text): a "#col,..." header, then each row
// with set values quoted ("" doubled), NULL values empty, fields joined by commas.
func Dump(w io.Writer, t *Table) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(t.Schema.Header())
	bw.WriteByte('\n')
	for _, r := range t.Rows {
		writeRow(bw, r)
	}
	return bw.Flush()
}

func writeRow(bw *bufio.Writer, r Row) {
	for j, c := range r.Cells {
		if j > 0 {
			bw.WriteByte(',')
		}
		if c.Set {
			bw.WriteByte('"')
			bw.WriteString(strings.ReplaceAll(c.V, `"`, `""`))
			bw.WriteByte('"')
		}
	}
	bw.WriteByte('\n')
}

// Parse reads table text as tabrestore does (xCAT's tabrestore, docs/behaviour.md#table-text): the first line is a "#"
// header naming any subset of the table's columns in any order; each later line is one
// row (quoted values may span lines). Columns the header omits are NULL; NULL key
// columns are stored as empty strings; all-NULL rows are skipped.
func Parse(name string, r io.Reader) (*Table, error) {
	t, err := NewTable(name)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	lineNo := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		lineNo++
		return strings.TrimRight(sc.Text(), " \t\r\n\f\v"), true
	}
	perr := func(line int, format string, a ...any) error {
		return &ParseError{Table: name, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	head, ok := next()
	if !ok {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s.csv: %w", name, err)
		}
		return nil, perr(1, "empty input: the first line must be a header such as %s", t.Schema.Header())
	}
	if !strings.HasPrefix(head, "#") {
		return nil, perr(1, "the first line must be a header starting with # (such as %s), not %q", t.Schema.Header(), head)
	}
	var cols []int
	seen := map[string]bool{}
	names := strings.Split(strings.ReplaceAll(head[1:], `"`, ""), ",")
	// Like Perl's split in tabrestore, trailing empty names are dropped: "#image,file," is
	// the header image,file.
	for len(names) > 0 && strings.TrimSpace(names[len(names)-1]) == "" {
		names = names[:len(names)-1]
	}
	if len(names) == 0 {
		return nil, perr(1, "the header names no columns (write it as %s)", t.Schema.Header())
	}
	for _, c := range names {
		c = strings.TrimSpace(c)
		i := t.Schema.Col(c)
		if i < 0 {
			return nil, perr(1, "unknown column %q in header (table %s has: %s)", c, name, strings.Join(t.Schema.Columns, ","))
		}
		if seen[c] {
			return nil, perr(1, "column %q named twice in header", c)
		}
		seen[c] = true
		cols = append(cols, i)
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		start := lineNo
		row := t.NewRow()
		row.Line = start
		rest := line
		for fi := 0; fi < len(cols); fi++ {
			if rest == "" {
				break // fewer fields: the rest stay NULL
			}
			var val string
			var set bool
			comma := strings.IndexByte(rest, ',')
			before := rest
			if comma >= 0 {
				before = rest[:comma]
			}
			switch {
			case before == "":
				// empty field: NULL
			case !strings.Contains(before, `"`):
				val, set = before, true
			case before[0] != '"':
				return nil, perr(lineNo, "CSV missing opening \" in field %d (%s): %q; values with quotes must start with a quote and have no blank before it", fi+1, t.Schema.Columns[cols[fi]], before)
			default:
				var b strings.Builder
				i := 1
				qstart := lineNo // the line the quoted value opens on
				for {
					if i >= len(rest) {
						more, ok := next()
						if !ok {
							return nil, perr(qstart, "CSV unmatched \" in field %d (%s): the quoted value never ends", fi+1, t.Schema.Columns[cols[fi]])
						}
						b.WriteByte('\n')
						rest, i = more, 0
						continue
					}
					if rest[i] != '"' {
						b.WriteByte(rest[i])
						i++
						continue
					}
					if i+1 < len(rest) && rest[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					break // closing quote
				}
				i++
				if i < len(rest) && rest[i] != ',' {
					began := ""
					if lineNo != qstart {
						began = fmt.Sprintf("; the quoted value began on line %d: is its closing quote missing?", qstart)
					}
					return nil, perr(lineNo, "CSV unescaped \" in field %d (%s): text %q follows the closing quote (write \"\" for a quote inside a value)%s", fi+1, t.Schema.Columns[cols[fi]], rest[i:], began)
				}
				val, set = b.String(), true
				rest = rest[i:]
				comma = 0
				if rest == "" {
					comma = -1
				}
			}
			if set {
				row.Cells[cols[fi]] = Val(val)
			}
			if comma < 0 {
				rest = ""
			} else {
				rest = rest[comma+1:]
				if rest == "" && fi == len(cols)-1 {
					break
				}
			}
		}
		if rest != "" {
			return nil, perr(lineNo, "Too many fields: %d columns in the header, extra text %q", len(cols), rest)
		}
		empty := true
		for _, c := range row.Cells {
			if c.Set {
				empty = false
				break
			}
		}
		if empty {
			continue
		}
		for _, k := range t.Schema.keyIdx {
			row.Cells[k].Set = true
		}
		t.Rows = append(t.Rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s.csv line %d: %w", name, lineNo+1, err)
	}
	return t, nil
}
