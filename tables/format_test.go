package tables

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

// fmtDump returns the tabdump text of t.
func fmtDump(t testing.TB, tab *Table) string {
	t.Helper()
	var b bytes.Buffer
	if err := Dump(&b, tab); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	return b.String()
}

// fmtParse parses text as table name, failing the test on error.
func fmtParse(t testing.TB, name, text string) *Table {
	t.Helper()
	tab, err := Parse(name, strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return tab
}

// TestFormatGolden parses every testdata/format/<table>.<case>.csv as tabrestore would
// (the table is the file name up to its first ".", xCAT's tabrestore, docs/behaviour.md#table-text) and compares the
// tabdump of the result, or "error: <message>", with <table>.<case>.golden.
// Refresh with: go test ./tables -run TestFormatGolden -update
func TestFormatGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "format", "*.csv"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		base := strings.TrimSuffix(filepath.Base(in), ".csv")
		t.Run(base, func(t *testing.T) {
			table, _, _ := strings.Cut(base, ".")
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			tab, err := Parse(table, bytes.NewReader(src))
			if err != nil {
				got = "error: " + err.Error() + "\n"
			} else {
				got = fmtDump(t, tab)
				// Round trip: what tabdump writes, tabrestore reads back unchanged.
				again := fmtParse(t, table, got)
				if d := fmtDump(t, again); d != got {
					t.Errorf("Dump(Parse(Dump)) differs:\n%s\nwant\n%s", d, got)
				}
				fmtSameCells(t, again, tab)
			}
			golden := filepath.Join("testdata", "format", base+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// fmtSameCells fails unless a and b hold the same cells (NULL and set alike) row by row.
func fmtSameCells(t testing.TB, a, b *Table) {
	t.Helper()
	if a.Schema != b.Schema || len(a.Rows) != len(b.Rows) {
		t.Fatalf("tables differ: %s with %d rows vs %s with %d rows", a.Name(), len(a.Rows), b.Name(), len(b.Rows))
	}
	for i := range a.Rows {
		if !reflect.DeepEqual(a.Rows[i].Cells, b.Rows[i].Cells) {
			t.Errorf("row %d: %#v\nwant %#v", i, a.Rows[i].Cells, b.Rows[i].Cells)
		}
	}
}

// fmtCell returns row i, column col of tab as it was parsed.
func fmtCell(t testing.TB, tab *Table, i int, col string) Cell {
	t.Helper()
	c := tab.Schema.Col(col)
	if c < 0 || i >= len(tab.Rows) {
		t.Fatalf("no cell %d/%s in %s (%d rows)", i, col, tab.Name(), len(tab.Rows))
	}
	return tab.Rows[i].Cells[c]
}

func TestParseCells(t *testing.T) {
	null := Cell{}
	tests := []struct {
		name  string
		table string
		text  string
		// want lists, per row, column=cell; columns not listed must be NULL.
		want  []map[string]Cell
		lines []int
	}{
		{
			name:  "quote doubled inside, comma inside",
			table: "litefile",
			text:  "#image,file,options,comments,disable\n\"img1\",\"/etc/x\",,\"say \"\"hi\"\", ok\",\"1\"\n",
			want:  []map[string]Cell{{"image": Val("img1"), "file": Val("/etc/x"), "comments": Val(`say "hi", ok`), "disable": Val("1")}},
			lines: []int{2},
		},
		{
			name:  "option with a comma needs quotes",
			table: "litefile",
			text:  "#image,file,options,comments,disable\n\"ALL\",\"/etc/x\",\"tmpfs,rw\",,\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/x"), "options": Val("tmpfs,rw")}},
		},
		{
			name:  "unquoted comma splits the option into two fields",
			table: "litefile",
			text:  "#image,file,options,comments,disable\nALL,/etc/x,tmpfs,rw,\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/x"), "options": Val("tmpfs"), "comments": Val("rw")}},
		},
		{
			name:  "multi-line quoted value keeps the newlines, row line is where it starts",
			table: "litefile",
			text:  "#image,file,options,comments,disable\n\"ALL\",\"/etc/a\",,,\n\"ALL\",\"/etc/motd\",,\"one\n\ntwo\",\"yes\"\n\"ALL\",\"/etc/b\",,,\n",
			want: []map[string]Cell{
				{"image": Val("ALL"), "file": Val("/etc/a")},
				{"image": Val("ALL"), "file": Val("/etc/motd"), "comments": Val("one\n\ntwo"), "disable": Val("yes")},
				{"image": Val("ALL"), "file": Val("/etc/b")},
			},
			lines: []int{2, 3, 6},
		},
		{
			name:  `"" is a set empty string, nothing is NULL`,
			table: "litefile",
			text:  "#image,file,options,comments,disable\n\"ALL\",\"/etc/x\",\"\",,\"\"\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/x"), "options": Val(""), "comments": null, "disable": Val("")}},
		},
		{
			name:  "trailing-comma form has five fields",
			table: "litefile",
			text:  "#image,file,options,comments,disable\n\"ALL\",\"/etc/adjtime\",,,\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/adjtime")}},
		},
		{
			// xCAT's tabrestore removes the comma after each field, the last one included,
			// so one extra comma (even after an empty last field) is not "too many".
			name:  "one comma after the last field is accepted",
			table: "litefile",
			text:  "#image,file,options,comments,disable\n\"ALL\",\"/etc/x\",\"ro\",\"c\",\"0\",\nALL,/etc/y,ro,c,0,\n\"ALL\",\"/etc/z\",,,,\n",
			want: []map[string]Cell{
				{"image": Val("ALL"), "file": Val("/etc/x"), "options": Val("ro"), "comments": Val("c"), "disable": Val("0")},
				{"image": Val("ALL"), "file": Val("/etc/y"), "options": Val("ro"), "comments": Val("c"), "disable": Val("0")},
				{"image": Val("ALL"), "file": Val("/etc/z")},
			},
		},
		{
			name:  "fewer fields leave the rest NULL",
			table: "litefile",
			text:  "#image,file,options,comments,disable\n\"ALL\",\"/etc/x\"\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/x")}},
		},
		{
			name:  "raw values keep leading and inner blanks, trailing blanks of the line are stripped",
			table: "litefile",
			text:  "#image,file,options,comments,disable\nALL,/etc/x, ,a  b ,no  \t\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/x"), "options": Val(" "), "comments": Val("a  b "), "disable": Val("no")}},
		},
		{
			name:  "header subset in another order, the rest NULL",
			table: "litefile",
			text:  "#file,image\n\"/etc/x\",\"img1\"\n",
			want:  []map[string]Cell{{"image": Val("img1"), "file": Val("/etc/x")}},
		},
		{
			name:  "header with quotes and blanks",
			table: "litefile",
			text:  "#\"image\", \"file\",\"options\"   \n\"ALL\",\"/etc/x\",\"ro\"\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/x"), "options": Val("ro")}},
		},
		{
			name:  "header with a trailing comma (Perl split drops trailing empty names)",
			table: "litefile",
			text:  "#image,file,\n\"ALL\",\"/etc/x\"\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/x")}},
		},
		{
			name:  "empty and all-NULL lines are skipped, line numbers still count them",
			table: "litefile",
			text:  "#image,file,options,comments,disable\n\n,,,,\n   \n\"ALL\",\"/etc/x\",,,\n",
			want:  []map[string]Cell{{"image": Val("ALL"), "file": Val("/etc/x")}},
			lines: []int{5},
		},
		{
			name:  "NULL key columns are stored as empty strings",
			table: "litefile",
			text:  "#file,options\n\"/etc/x\",\"ro\"\n,\"tmpfs\"\n",
			want: []map[string]Cell{
				{"image": Val(""), "file": Val("/etc/x"), "options": Val("ro")},
				{"image": Val(""), "file": Val(""), "options": Val("tmpfs")},
			},
		},
		{
			name:  "a # line after the header is data",
			table: "litefile",
			text:  "#image,file,options,comments,disable\n#ALL,/etc/x,,,\n",
			want:  []map[string]Cell{{"image": Val("#ALL"), "file": Val("/etc/x")}},
		},
		{
			name:  "CRLF line ends",
			table: "site",
			text:  "#key,value,comments,disable\r\n\"master\",\"10.0.0.1\",,\r\n",
			want:  []map[string]Cell{{"key": Val("master"), "value": Val("10.0.0.1")}},
		},
		{
			name:  "header only",
			table: "litetree",
			text:  "#priority,image,directory,mntopts,comments,disable\n",
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := fmtParse(t, tt.table, tt.text)
			if len(tab.Rows) != len(tt.want) {
				t.Fatalf("got %d rows, want %d:\n%s", len(tab.Rows), len(tt.want), fmtDump(t, tab))
			}
			for i, w := range tt.want {
				for _, col := range tab.Schema.Columns {
					if got := fmtCell(t, tab, i, col); got != w[col] {
						t.Errorf("row %d %s = %#v, want %#v", i, col, got, w[col])
					}
				}
				if tt.lines != nil && tab.Rows[i].Line != tt.lines[i] {
					t.Errorf("row %d Line = %d, want %d", i, tab.Rows[i].Line, tt.lines[i])
				}
			}
		})
	}
}

// The Cookbook's RedHat sample as printed in the PDF (blanks after some commas).
const fmtCookbookRedHatPDF = `#image,file,options,comments,disable
"ALL", "/etc/adjtime", , ,
"ALL","/etc/fstab",,,
"ALL", "/etc/inittab",,,
"ALL","/etc/lvm/.cache",,,
"ALL", "/etc/mtab",,,
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		table string
		text  string
		line  int
		want  []string // substrings of the message
	}{
		{"empty input", "litefile", "", 1, []string{"header"}},
		{"no header", "litefile", "\"ALL\",\"/etc/x\",,,\n", 1, []string{"header", "#"}},
		{"unknown column named", "litefile", "#image,file,bogus\n", 1, []string{`unknown column "bogus"`, "image,file,options,comments,disable"}},
		{"empty column name in the middle", "litefile", "#image,,file\n", 1, []string{`unknown column ""`}},
		{"header naming no column", "litefile", "#\n", 1, []string{"no columns"}},
		{"column twice", "litefile", "#image,file,image\n", 1, []string{`"image" named twice`}},
		{"too many fields", "litefile", "#image,file,options,comments,disable\n\"ALL\",\"/etc/ok\",,,\n\"ALL\",\"/etc/x\",,,,,\n", 3, []string{"Too many fields"}},
		{"six values for five columns", "litefile", "#image,file,options,comments,disable\n\"ALL\",\"/etc/x\",,,,\"1\"\n", 2, []string{"Too many fields", `"\"1\""`}},
		{"too many fields with a subset header", "litefile", "#image,file\n\"ALL\",\"/etc/x\",\"ro\"\n", 2, []string{"Too many fields", `"\"ro\""`}},
		{"two commas after the last field", "litefile", "#image,file\nALL,/etc/x,,\n", 2, []string{"Too many fields"}},
		{"blank before the opening quote", "litefile", "#image,file,options,comments,disable\n\"ALL\", \"/etc/x\",,,\n", 2, []string{`CSV missing opening "`, "field 2 (file)"}},
		{"quote inside a raw value", "litefile", "#image,file,options,comments,disable\nALL,/etc/x,ro\"x,,\n", 2, []string{`CSV missing opening "`, "field 3 (options)"}},
		{"unmatched quote at the end", "litefile", "#image,file,options,comments,disable\n\"ALL\",\"/etc/ok\",,,\n\"ALL\",\"/etc/x,,,\n", 3, []string{`CSV unmatched "`, "field 2 (file)"}},
		{"text after the closing quote", "litefile", "#image,file,options,comments,disable\n\"ALL\",\"/etc/x\",\"ro\"x,,\n", 2, []string{`CSV unescaped "`, "field 3 (options)"}},
		{"single quote inside a quoted value", "litefile", "#image,file,options,comments,disable\n\"ALL\",\"/etc/x\",,\"say \"hi\"\",\n", 2, []string{`CSV unescaped "`, "field 4 (comments)"}},
		// A quote left open on line 2 swallows the newline and closes at the start of
		// line 3; the error is found on line 3 and points back at line 2.
		{"stray quote names where the value began", "litefile", "#image,file,options,comments,disable\n\"ALL\",\"/etc/x,,,\n\"ALL\",\"/etc/y\",,,\n", 3, []string{`CSV unescaped "`, "began on line 2"}},
		{"cookbook PDF blanks, first line", "litefile", fmtCookbookRedHatPDF, 2, []string{`CSV missing opening "`, `" \"/etc/adjtime\""`}},
		{"cookbook PDF blanks, later line", "litefile", strings.Replace(fmtCookbookRedHatPDF, `"ALL", "/etc/adjtime", , ,`+"\n", "", 1), 3, []string{`CSV missing opening "`, "/etc/inittab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Parse(tt.table, strings.NewReader(tt.text))
			if err == nil {
				t.Fatalf("Parse succeeded:\n%s", fmtDump(t, tab))
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if pe.Table != tt.table || pe.Line != tt.line {
				t.Errorf("error at %s line %d, want %s line %d: %v", pe.Table, pe.Line, tt.table, tt.line, err)
			}
			msg := err.Error()
			for _, w := range append([]string{tt.table + ".csv line "}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestParseUnknownTable(t *testing.T) {
	_, err := Parse("nosuch", strings.NewReader("#a\n"))
	if err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("Parse of an unknown table: %v", err)
	}
}

func TestDump(t *testing.T) {
	lf, _ := NewTable("litefile")
	row := func(cells ...Cell) Row { return Row{Cells: cells} }
	null := Cell{}
	lf.Rows = []Row{
		row(Val("ALL"), Val("/etc/adjtime"), Val("tmpfs"), null, null),
		row(Val("img1"), Val("/etc/x"), null, Val(`say "hi", ok`), Val("1")),
		row(Val("ALL"), Val("/etc/y"), Val(""), Val("two\nlines"), Val("")),
		row(null, null, null, null, null),
	}
	want := `#image,file,options,comments,disable
"ALL","/etc/adjtime","tmpfs",,
"img1","/etc/x",,"say ""hi"", ok","1"
"ALL","/etc/y","","two
lines",""
,,,,
`
	if got := fmtDump(t, lf); got != want {
		t.Errorf("Dump:\n%s\nwant\n%s", got, want)
	}
	// An empty table is its header alone, in schema order.
	for _, name := range TableNames() {
		e, _ := NewTable(name)
		if got, want := fmtDump(t, e), e.Schema.Header()+"\n"; got != want {
			t.Errorf("Dump of empty %s = %q, want %q", name, got, want)
		}
	}
}

// TestRoundTrip checks Parse(Dump(t)) == t for awkward values in every table.
func TestRoundTrip(t *testing.T) {
	values := []Cell{
		{}, Val(""), Val("plain"), Val(`"`), Val(`""`), Val(`a "b" c`), Val(","), Val(",,,"),
		Val(`"ALL", "/etc/adjtime", , ,`), Val("#not a header"), Val("  lead and trail  "),
		Val("multi\nline\n\nvalue"), Val("\nstarts with a newline"), Val("ends with a newline\n"),
		Val("tab\tinside"), Val("ünïcödé ✓"), Val(`\`), Val(`|\D+(\d+)|10.0.0.($1+100)|`),
		Val("$noderes.nfsserver:/x/$node"),
	}
	for _, name := range TableNames() {
		t.Run(name, func(t *testing.T) {
			tab, _ := NewTable(name)
			n := len(tab.Schema.Columns)
			for i := range values {
				r := tab.NewRow()
				for c := range r.Cells {
					r.Cells[c] = values[(i+c)%len(values)]
				}
				for _, k := range tab.Schema.keyIdx {
					// keys are never NULL once parsed (xCAT's tabrestore, docs/behaviour.md#table-text)
					r.Cells[k].Set = true
				}
				tab.Rows = append(tab.Rows, r)
			}
			text := fmtDump(t, tab)
			back := fmtParse(t, name, text)
			fmtSameCells(t, back, tab)
			if got := fmtDump(t, back); got != text {
				t.Errorf("second dump differs")
			}
			if n < 2 {
				t.Fatal("schema too small")
			}
		})
	}
}

// TestRoundTripLimits pins what the text format cannot carry, as in xCAT: blanks at the
// end of a physical line are stripped even inside a multi-line quoted value.
func TestRoundTripLimits(t *testing.T) {
	tab, _ := NewTable("site")
	tab.Rows = []Row{{Cells: []Cell{Val("k"), Val("blank before newline \nnext"), {}, {}}}}
	back := fmtParse(t, "site", fmtDump(t, tab))
	if got := back.Get(0, "value"); got != "blank before newline\nnext" {
		t.Errorf("value = %q", got)
	}
}
