package tables

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// NoderangeOptions tunes noderange expansion.
type NoderangeOptions struct {
	// Prefix and Suffix are put around an all-digit atom ("5" -> node5), as xCAT's
	// XCAT_NODE_PREFIX / XCAT_NODE_SUFFIX; an empty Prefix means "node", Suffix defaults to "".
	Prefix, Suffix string
	// ReadFile reads a ^file operand; nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)

	maxNames int // 0: nrMaxNames (FuzzNoderange sets it lower)
}

const (
	// nrMaxDepth bounds the nesting of parentheses, @ groups, files and atoms
	// (a file that names itself through "(^file)" ends here instead of looping).
	nrMaxDepth = 64
)

// nrMaxNames bounds the names one range, bracket product or + form may produce, and all
// of them together in one noderange (each produced name is an atom of its own, so a
// range of bracket products, such as x[0-999]-x[0-999], would otherwise produce a
// billion). FuzzNoderange lowers it for its evaluations (NoderangeOptions.maxNames) to
// explore more inputs a second.
const nrMaxNames = 1 << 20

// nrSet is a set of node names.
type nrSet map[string]struct{}

// nrEval is one noderange evaluation: the snapshot, the options and the missed names.
type nrEval struct {
	s              *Snapshot
	prefix, suffix string
	readFile       func(string) ([]byte, error)
	missed         nrSet
	reading        map[string]bool // ^files being read, to refuse a file that includes itself
	produced       int             // names ranges, brackets and + forms produced so far
	maxNames       int             // at most this many (nrMaxNames)
}

// Noderange expands an xCAT noderange against the snapshot (xCAT's noderange(3), docs/behaviour.md#noderanges).
// nodes: sorted unique node names that exist in nodelist. missed: names the range
// produced that are not nodes (xCAT reports them, not an error). err: syntax errors
// (unbalanced brackets/parentheses, bad regex, descending range such as
// node03-node01 (docs/behaviour.md#noderanges), unreadable ^file, bad attribute selection with
// unknown table/column); the error text quotes the offending part of the noderange.
//
// Differences from xCAT, all deliberate: an exclusion written -(...) joins the
// exclusion set applied at the end, like any other -X (xCAT subtracts it at once);
// -^file and @^file exclude / intersect the file's nodes; parentheses that do not
// enclose a whole element are literal (so /node0(1|2) is a working regex);
// groups==g and groups!=g test membership in the comma list; a range may produce
// at most 1,048,576 names, and so may all of them together.
func (s *Snapshot) Noderange(expr string, opt NoderangeOptions) (nodes, missed []string, err error) {
	expr = nrStripQuotes(expr)
	e := s.newNrEval(opt)
	set, err := e.eval(expr, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("noderange %q: %w", expr, err)
	}
	if ex, ok := s.Site("excludenodes"); ok && strings.TrimSpace(ex) != "" {
		ex = nrStripQuotes(ex)
		xs, err := s.newNrEval(opt).eval(ex, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("site.excludenodes %q: %w", ex, err)
		}
		for n := range xs {
			delete(set, n)
		}
	}
	return nrSorted(set), nrSorted(e.missed), nil
}

func (s *Snapshot) newNrEval(opt NoderangeOptions) *nrEval {
	e := &nrEval{s: s, prefix: opt.Prefix, suffix: opt.Suffix, readFile: opt.ReadFile, missed: nrSet{}, reading: map[string]bool{}}
	if e.prefix == "" {
		e.prefix = "node"
	}
	if e.readFile == nil {
		e.readFile = os.ReadFile
	}
	if e.maxNames = opt.maxNames; e.maxNames <= 0 {
		e.maxNames = nrMaxNames
	}
	return e
}

func nrStripQuotes(s string) string {
	return strings.NewReplacer(`"`, "", "'", "").Replace(s)
}

func nrSorted(m nrSet) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// eval evaluates a noderange (or a part of one): elements separated by top-level
// commas, or, without such a comma, by top-level @. "-X" elements are collected and
// removed at the end; "@X" intersects what was accumulated so far; others are unioned.
func (e *nrEval) eval(expr string, depth int) (nrSet, error) {
	if depth > nrMaxDepth {
		return nil, fmt.Errorf("%q: nested too deeply (a file that includes itself?)", expr)
	}
	if err := nrCheckBalanced(expr); err != nil {
		return nil, err
	}
	elems := nrSplitTop(expr, ',')
	if len(elems) == 1 {
		if parts := nrSplitTop(expr, '@'); len(parts) > 1 {
			elems = parts[:1]
			for _, p := range parts[1:] {
				elems = append(elems, "@"+p)
			}
		}
	}
	acc, excl := nrSet{}, nrSet{}
	for _, el := range elems {
		el = strings.TrimSpace(el)
		if el == "" {
			continue
		}
		switch el[0] {
		case '-':
			if x := strings.TrimSpace(el[1:]); x != "" {
				if err := e.operand(x, depth, excl); err != nil {
					return nil, err
				}
			}
		case '@':
			x := strings.TrimSpace(el[1:])
			if x == "" {
				continue
			}
			with := nrSet{}
			if err := e.operand(x, depth, with); err != nil {
				return nil, err
			}
			for n := range acc {
				if _, ok := with[n]; !ok {
					delete(acc, n)
				}
			}
		default:
			if err := e.operand(el, depth, acc); err != nil {
				return nil, err
			}
		}
	}
	for n := range excl {
		delete(acc, n)
	}
	return acc, nil
}

// operand expands one element without its -/@ operator into out: a ^file or an atom.
func (e *nrEval) operand(x string, depth int, out nrSet) error {
	if x[0] == '^' {
		return e.file(strings.TrimSpace(x[1:]), depth+1, out)
	}
	return e.atom(x, depth+1, out, true)
}

// file unions the noderanges of a ^file: every line not starting with # or ^
// contributes its first token (up to ':', tab or space), evaluated on its own, so a
// "-x" line excludes nothing from the outer result.
func (e *nrEval) file(path string, depth int, out nrSet) error {
	if path == "" {
		return errors.New(`"^" without a file name`)
	}
	if e.reading[path] {
		return fmt.Errorf("%q includes itself", "^"+path)
	}
	e.reading[path] = true
	defer delete(e.reading, path)
	data, err := e.readFile(path)
	if err != nil {
		return fmt.Errorf("cannot read %q: %v", "^"+path, err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		if j := strings.IndexAny(line, ": \t\r"); j >= 0 {
			line = line[:j]
		}
		tok := nrStripQuotes(line)
		if tok == "" {
			continue
		}
		set, err := e.eval(tok, depth+1)
		if err != nil {
			return fmt.Errorf("%q line %d: %w", "^"+path, i+1, err)
		}
		for n := range set {
			out[n] = struct{}{}
		}
	}
	return nil
}

// atom expands one atom into out, by the first rule of xCAT's noderange(3) that applies (docs/behaviour.md#noderanges).
// digits is false when the atom already got the node prefix, so "5" cannot loop.
func (e *nrEval) atom(a string, depth int, out nrSet, digits bool) error {
	if depth > nrMaxDepth {
		return fmt.Errorf("%q: nested too deeply (a file that includes itself?)", a)
	}
	if a == "" {
		return nil
	}
	// 1. a node name
	if e.s.IsNode(a) {
		out[a] = struct{}{}
		return nil
	}
	// 2. (...) or a top-level @: a noderange of its own
	if nrWrapped(a) {
		return e.evalInto(a[1:len(a)-1], depth, out)
	}
	if nrHasTop(a, '@') {
		return e.evalInto(a, depth, out)
	}
	// 3. dynamic group, static group, defined but empty group
	if ok, err := e.group(a, out); ok || err != nil {
		return err
	}
	// 4. attribute selection
	if strings.ContainsAny(a, "=~") {
		c, err := e.s.parseNrCrit(a, false)
		if err != nil {
			return fmt.Errorf("attribute selection %q: %v", a, err)
		}
		for _, n := range e.s.Nodes() {
			if e.s.nrMatch(c, n) {
				out[n] = struct{}{}
			}
		}
		return nil
	}
	// 5. only digits: prefix + digits + suffix
	if digits && nrAllDigits(a) {
		return e.atom(e.prefix+a+e.suffix, depth+1, out, false)
	}
	// 6. /regex, anchored at both ends
	if a[0] == '/' {
		re, err := regexp.Compile("^(?:" + a[1:] + ")$")
		if err != nil {
			return fmt.Errorf("bad regular expression %q: %v", a, err)
		}
		for _, n := range e.s.Nodes() {
			if re.MatchString(n) {
				out[n] = struct{}{}
			}
		}
		return nil
	}
	// 7. brackets
	if strings.Contains(a, "[") {
		names, err := e.brackets(a, a)
		if err != nil {
			return err
		}
		return e.atoms(names, depth, out)
	}
	// 8. name<N>+<k>
	if strings.Contains(a, "+") {
		return e.plus(a, depth, out)
	}
	// 9. left-right, left:right
	if strings.ContainsAny(a, "-:") {
		return e.rangeAtom(a, depth, out)
	}
	// 10. unknown
	e.missed[a] = struct{}{}
	return nil
}

func (e *nrEval) evalInto(expr string, depth int, out nrSet) error {
	set, err := e.eval(expr, depth+1)
	if err != nil {
		return err
	}
	for n := range set {
		out[n] = struct{}{}
	}
	return nil
}

// atoms expands every produced name as an atom of its own.
func (e *nrEval) atoms(names []string, depth int, out nrSet) error {
	if e.produced += len(names); e.produced > e.maxNames {
		return fmt.Errorf("its ranges produce more than %d names in all", e.maxNames)
	}
	for _, n := range names {
		if err := e.atom(n, depth+1, out, true); err != nil {
			return err
		}
	}
	return nil
}

// group expands a as a group; ok is false when a is no group at all.
func (e *nrEval) group(a string, out nrSet) (ok bool, err error) {
	row, defined := e.s.GroupDef(a)
	if defined {
		ng := e.s.Table("nodegroup")
		if strings.EqualFold(strings.TrimSpace(ng.Get(row, "grouptype")), "dynamic") {
			return true, e.dynamic(a, ng.Get(row, "wherevals"), out)
		}
	}
	for _, n := range e.s.StaticMembers(a) {
		out[n] = struct{}{}
		ok = true
	}
	return ok || defined, nil
}

// dynamic adds the nodes that satisfy every "::"-separated term of wherevals.
// A dynamic group without any term has no members.
func (e *nrEval) dynamic(group, wherevals string, out nrSet) error {
	var crits []*nrCrit
	for _, term := range strings.Split(wherevals, "::") {
		if term = strings.TrimSpace(term); term == "" {
			continue
		}
		c, err := e.s.parseNrCrit(term, true)
		if err != nil {
			return fmt.Errorf("dynamic group %q: nodegroup.wherevals term %q: %v", group, term, err)
		}
		crits = append(crits, c)
	}
	if len(crits) == 0 {
		return nil
	}
nodes:
	for _, n := range e.s.Nodes() {
		for _, c := range crits {
			if !e.s.nrMatch(c, n) {
				continue nodes
			}
		}
		out[n] = struct{}{}
	}
	return nil
}

// plus expands name<N>+<k> to N..N+k keeping N's zero padding; a bare "N+k" takes
// the node prefix and suffix. A malformed form is an unknown name.
var nrPlusRe = regexp.MustCompile(`^(.*?)(\d+)(\..+)?$`)

func (e *nrEval) plus(a string, depth int, out nrSet) error {
	i := strings.IndexByte(a, '+')
	front, inc := a[:i], a[i+1:]
	m := nrPlusRe.FindStringSubmatch(front)
	if m == nil || !nrAllDigits(inc) {
		e.missed[a] = struct{}{}
		return nil
	}
	pre, start, suf := m[1], m[2], m[3]
	if pre == "" && suf == "" {
		pre, suf = e.prefix, e.suffix
	}
	lo, err := nrParseNum(start, a)
	if err != nil {
		return err
	}
	k, err := nrParseNum(inc, a)
	if err != nil {
		return err
	}
	nums, err := e.numbers(lo, lo+k, nrWidth(start), a)
	if err != nil {
		return err
	}
	for i := range nums {
		nums[i] = pre + nums[i] + suf
	}
	return e.atoms(nums, depth, out)
}

// rangeAtom expands left-right or left:right: both sides split into digit and
// non-digit runs of the same shape that differ in one numeric run, which is iterated
// with the left operand's zero padding. Every produced name is expanded as an atom
// (so rack1-rack3 gives the groups' members). Shapes that do not fit are an unknown
// name; a descending range is an error (docs/behaviour.md#noderanges).
func (e *nrEval) rangeAtom(a string, depth int, out nrSet) error {
	var left, right string
	if strings.Contains(a, ":") {
		parts := strings.Split(a, ":")
		if len(parts) != 2 {
			e.missed[a] = struct{}{}
			return nil
		}
		left, right = parts[0], parts[1]
	} else {
		c := strings.Count(a, "-")
		if c%2 == 0 { // an even number of "-" is not a range
			e.missed[a] = struct{}{}
			return nil
		}
		i := nrNthIndex(a, '-', c/2)
		left, right = a[:i], a[i+1:]
	}
	if left == "" || right == "" {
		e.missed[a] = struct{}{}
		return nil
	}
	if left == right {
		return e.atom(left, depth+1, out, true)
	}
	lr, rr := nrRuns(left), nrRuns(right)
	if len(lr) == len(rr) {
		for i := range lr {
			if nrAllDigits(lr[i]) && nrAllDigits(rr[i]) && lr[i] != rr[i] {
				suf := strings.Join(lr[i+1:], "")
				if suf != strings.Join(rr[i+1:], "") {
					break
				}
				names, err := e.span(strings.Join(lr[:i], ""), lr[i], rr[i], suf, a)
				if err != nil {
					return err
				}
				return e.atoms(names, depth, out)
			}
			if lr[i] != rr[i] {
				break
			}
		}
	}
	e.missed[a] = struct{}{}
	return nil
}

// nrSpan returns pre+N+suf for N from lo to hi (digit strings), padded to lo's width
// when lo has a leading zero. whole is the atom named in errors.
func (e *nrEval) span(pre, lo, hi, suf, whole string) ([]string, error) {
	l, err := nrParseNum(lo, whole)
	if err != nil {
		return nil, err
	}
	h, err := nrParseNum(hi, whole)
	if err != nil {
		return nil, err
	}
	if l > h {
		return nil, fmt.Errorf("descending range %q (%s > %s): write it from low to high", whole, lo, hi)
	}
	nums, err := e.numbers(l, h, nrWidth(lo), whole)
	if err != nil {
		return nil, err
	}
	for i := range nums {
		nums[i] = pre + nums[i] + suf
	}
	return nums, nil
}

// nrBrackets expands every [...] of a: a[1-3], a[1:3], a[1,3,5], a[01-03,07];
// several brackets form the cartesian product. whole is the atom named in errors.
func (e *nrEval) brackets(a, whole string) ([]string, error) {
	i := strings.IndexByte(a, '[')
	if i < 0 {
		return []string{a}, nil
	}
	j := strings.IndexByte(a[i:], ']')
	if j < 0 {
		return nil, fmt.Errorf("unbalanced \"[\" in %q", whole)
	}
	j += i
	pre, body, post := a[:i], a[i+1:j], a[j+1:]
	if strings.TrimSpace(body) == "" {
		return nil, fmt.Errorf("empty brackets in %q", whole)
	}
	var vals []string
	for _, item := range strings.Split(body, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k := strings.IndexAny(item, "-:")
		if k < 0 {
			vals = append(vals, item)
			continue
		}
		lo, hi := item[:k], item[k+1:]
		if !nrAllDigits(lo) || !nrAllDigits(hi) {
			return nil, fmt.Errorf("bad bracket range %q in %q: want [N-M], [N:M] or [a,b,c]", "["+body+"]", whole)
		}
		nums, err := e.span("", lo, hi, "", "["+body+"]")
		if err != nil {
			return nil, fmt.Errorf("%v in %q", err, whole)
		}
		vals = append(vals, nums...)
	}
	rest, err := e.brackets(post, whole)
	if err != nil {
		return nil, err
	}
	if len(vals)*len(rest) > e.maxNames {
		return nil, fmt.Errorf("%q produces more than %d names", whole, e.maxNames)
	}
	out := make([]string, 0, len(vals)*len(rest))
	for _, v := range vals {
		for _, r := range rest {
			out = append(out, pre+v+r)
		}
	}
	return out, nil
}

// nrCrit is one attribute test: table.column op value.
type nrCrit struct {
	table, col string
	op         string // "==", "!=", "=~" or "!~"
	val        string
	re         *regexp.Regexp
	members    bool // nodelist.groups: == and != test membership in the comma list
	nodeName   bool // wherevals "node": the node name itself
}

var nrShortNames = map[string][2]string{
	"groups": {"nodelist", "groups"},
	"tags":   {"nodelist", "groups"},
	"mgt":    {"nodehm", "mgt"},
}

// parseNrCrit parses table.column==v, =v, !=v, =~re, !~re (slashes around re
// optional). With objAttrs (nodegroup.wherevals) a bare name may also be "node" or an
// xCAT node attribute: a column found in exactly one node table ("os", "arch"…), or "unit"
// (nodepos.u).
func (s *Snapshot) parseNrCrit(term string, objAttrs bool) (*nrCrit, error) {
	name, op, val := "", "", ""
scan:
	for i := 0; i < len(term); i++ {
		for _, o := range []string{"!=", "!~", "==", "=~", "="} {
			if strings.HasPrefix(term[i:], o) {
				name, op, val = strings.TrimSpace(term[:i]), o, term[i+len(o):]
				break scan
			}
		}
	}
	if op == "" {
		return nil, errors.New("want attr==value, attr!=value, attr=~regex or attr!~regex")
	}
	if op == "=" {
		op = "=="
	}
	c := &nrCrit{op: op, val: val}
	if op == "=~" || op == "!~" {
		val = strings.TrimPrefix(val, "/")
		val = strings.TrimSuffix(val, "/")
		re, err := regexp.Compile(val)
		if err != nil {
			return nil, fmt.Errorf("bad regular expression %q: %v", val, err)
		}
		c.re, c.val = re, val
	}
	switch tc, short := nrShortNames[name]; {
	case name == "":
		return nil, errors.New("no attribute name before the operator")
	case short:
		c.table, c.col = tc[0], tc[1]
	case strings.Contains(name, "."):
		c.table, c.col, _ = strings.Cut(name, ".")
		sc, err := LookupSchema(c.table)
		if err != nil {
			return nil, err
		}
		if !sc.NodeKeyed {
			return nil, fmt.Errorf("table %q is not keyed by node or group", c.table)
		}
		if sc.Col(c.col) < 0 {
			return nil, fmt.Errorf("table %q has no column %q (columns: %s)", c.table, c.col, strings.Join(sc.Columns, ", "))
		}
	case objAttrs && name == "node":
		c.nodeName = true
	case objAttrs && name == "unit":
		c.table, c.col = "nodepos", "u"
	case objAttrs:
		var found []string
		for _, sc := range schemaList {
			if sc.NodeKeyed && !sc.IsKey(name) && name != "comments" && name != "disable" && sc.Col(name) >= 0 {
				found = append(found, sc.Name)
			}
		}
		switch len(found) {
		case 1:
			c.table, c.col = found[0], name
		case 0:
			return nil, fmt.Errorf("unknown attribute %q (want table.column, groups, tags, mgt, node or a node attribute)", name)
		default:
			return nil, fmt.Errorf("attribute %q is ambiguous (tables %s): write table.column", name, strings.Join(found, ", "))
		}
	default:
		return nil, fmt.Errorf("unknown attribute %q (want table.column, groups, tags or mgt)", name)
	}
	c.members = c.table == "nodelist" && c.col == "groups"
	return c, nil
}

// nrMatch tests node against c; a node with no value is never selected, even by != or !~.
func (s *Snapshot) nrMatch(c *nrCrit, node string) bool {
	v, ok := node, true
	if !c.nodeName {
		v, _, ok = s.NodeAttr(node, c.table, c.col)
	}
	if !ok || v == "" {
		return false
	}
	switch c.op {
	case "==":
		if c.members {
			return nrListHas(v, c.val)
		}
		return v == c.val
	case "!=":
		if c.members {
			return !nrListHas(v, c.val)
		}
		return v != c.val
	case "=~":
		return c.re.MatchString(v)
	default: // "!~"
		return !c.re.MatchString(v)
	}
}

func nrListHas(list, item string) bool {
	for _, g := range SplitList(list) {
		if g == item {
			return true
		}
	}
	return false
}

// nrCheckBalanced reports unbalanced or nested brackets and unbalanced parentheses.
func nrCheckBalanced(s string) error {
	var stack []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '[':
			if len(stack) > 0 && stack[len(stack)-1] == '[' {
				return fmt.Errorf("nested \"[\" in %q", s)
			}
			stack = append(stack, c)
		case '(':
			stack = append(stack, c)
		case ']', ')':
			open := byte('[')
			if c == ')' {
				open = '('
			}
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("unbalanced %q in %q", string(c), s)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unbalanced %q in %q", string(stack[len(stack)-1]), s)
	}
	return nil
}

// nrSplitTop splits s on sep outside [...] and (...).
func nrSplitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// nrHasTop reports whether s contains sep outside [...] and (...).
func nrHasTop(s string, sep byte) bool { return len(nrSplitTop(s, sep)) > 1 }

// nrWrapped reports whether s is one parenthesised group: "(...)".
func nrWrapped(s string) bool {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return false
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i == len(s)-1
			}
		}
	}
	return false
}

func nrAllDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// nrRuns splits s into maximal runs of digits and of non-digits.
func nrRuns(s string) []string {
	var out []string
	start := 0
	for i := 1; i <= len(s); i++ {
		if i == len(s) || nrIsDigit(s[i]) != nrIsDigit(s[i-1]) {
			out = append(out, s[start:i])
			start = i
		}
	}
	return out
}

func nrIsDigit(c byte) bool { return c >= '0' && c <= '9' }

// nrNthIndex returns the index of the n-th (0-based) occurrence of c in s.
func nrNthIndex(s string, c byte, n int) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			if n == 0 {
				return i
			}
			n--
		}
	}
	return -1
}

// nrWidth is the zero-padding width a number written as run imposes: its length when
// it has a leading zero (Perl's string increment), none otherwise.
func nrWidth(run string) int {
	if len(run) > 1 && run[0] == '0' {
		return len(run)
	}
	return 0
}

func nrParseNum(run, whole string) (int64, error) {
	n, err := strconv.ParseInt(run, 10, 64)
	if err != nil || n > 1<<53 {
		return 0, fmt.Errorf("number %s too large in %q", run, whole)
	}
	return n, nil
}

// nrNumbers returns lo..hi zero-padded to width.
func (e *nrEval) numbers(lo, hi int64, width int, whole string) ([]string, error) {
	if hi-lo >= int64(e.maxNames) {
		return nil, fmt.Errorf("%q produces %d names (limit %d)", whole, hi-lo+1, e.maxNames)
	}
	out := make([]string, 0, hi-lo+1)
	for n := lo; n <= hi; n++ {
		v := strconv.FormatInt(n, 10)
		if len(v) < width {
			v = strings.Repeat("0", width-len(v)) + v
		}
		out = append(out, v)
	}
	return out, nil
}
