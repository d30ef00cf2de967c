package tables

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// IsRegexCell reports whether a cell value is a regex-valued cell: /pat/repl/ or |pat|expr|.
func IsRegexCell(v string) bool {
	if len(v) < 3 {
		return false
	}
	switch v[0] {
	case '/':
		// /pattern/replacement/ with exactly three slashes, as xCAT's ^/[^/]*/[^/]*/$
		return v[len(v)-1] == '/' && strings.Count(v, "/") == 3
	case '|':
		return v[len(v)-1] == '|' && strings.Count(v, "|") >= 3
	}
	return false
}

// ApplyRegexCell evaluates a regex-valued cell for node (xCAT's node and group rows, docs/behaviour.md#which-rows-apply): /pat/repl/
// substitutes the first match of pat in the node name; |pat|expr| does the same after
// evaluating every parenthesised integer expression of expr, e.g.
// |\D+(\d+)|10.0.0.($1+100)| gives 10.0.0.105 for n5.
func ApplyRegexCell(cell, node string) (string, error) {
	if !IsRegexCell(cell) {
		return cell, nil
	}
	sep := cell[:1]
	body := cell[1 : len(cell)-1]
	parts := strings.SplitN(body, sep, 2)
	if len(parts) != 2 {
		return "", fmt.Errorf("regex cell %q: want %spattern%sreplacement%s", cell, sep, sep, sep)
	}
	re, err := regexp.Compile(parts[0])
	if err != nil {
		return "", fmt.Errorf("regex cell %q: %v", cell, err)
	}
	repl := parts[1]
	if sep == "|" {
		for {
			open, close := innermostParens(repl)
			if open < 0 {
				break
			}
			expr := subFirst(re, node, repl[open:close+1])
			n, err := evalInt(expr)
			if err != nil {
				return "", fmt.Errorf("regex cell %q for node %s: %v", cell, node, err)
			}
			repl = repl[:open] + strconv.FormatInt(n, 10) + repl[close+1:]
		}
	}
	return subFirst(re, node, repl), nil
}

// innermostParens returns the positions of the first "(" that has no "(" before its ")".
func innermostParens(s string) (int, int) {
	open := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			open = i
		case ')':
			if open >= 0 {
				return open, i
			}
		}
	}
	return -1, -1
}

var perlGroupRef = regexp.MustCompile(`\$(\d+)|\\(\d)`)

// subFirst replaces the first match of re in s by tmpl, with Perl-style $1 or \1 references.
func subFirst(re *regexp.Regexp, s, tmpl string) string {
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return s
	}
	goTmpl := perlGroupRef.ReplaceAllStringFunc(strings.ReplaceAll(tmpl, "${", "$${"), func(m string) string {
		return "${" + strings.TrimLeft(m, `$\`) + "}"
	})
	goTmpl = strings.ReplaceAll(goTmpl, "$${", "${")
	var dst []byte
	dst = re.ExpandString(dst, goTmpl, s, loc)
	return s[:loc[0]] + string(dst) + s[loc[1]:]
}

// evalInt evaluates an integer expression with + - * / % and parentheses (Perl "use integer").
func evalInt(expr string) (int64, error) {
	p := &arith{s: strings.TrimSpace(expr)}
	v, err := p.sum()
	if err != nil {
		return 0, err
	}
	p.skip()
	if p.i != len(p.s) {
		return 0, fmt.Errorf("bad arithmetic %q at %q", expr, p.s[p.i:])
	}
	return v, nil
}

type arith struct {
	s string
	i int
}

func (p *arith) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *arith) sum() (int64, error) {
	v, err := p.term()
	for err == nil {
		p.skip()
		if p.i >= len(p.s) || (p.s[p.i] != '+' && p.s[p.i] != '-') {
			return v, nil
		}
		op := p.s[p.i]
		p.i++
		var w int64
		if w, err = p.term(); err == nil {
			if op == '+' {
				v += w
			} else {
				v -= w
			}
		}
	}
	return 0, err
}

func (p *arith) term() (int64, error) {
	v, err := p.unary()
	for err == nil {
		p.skip()
		if p.i >= len(p.s) || !strings.ContainsRune("*/%", rune(p.s[p.i])) {
			return v, nil
		}
		op := p.s[p.i]
		p.i++
		var w int64
		if w, err = p.unary(); err != nil {
			break
		}
		switch op {
		case '*':
			v *= w
		case '/', '%':
			if w == 0 {
				return 0, fmt.Errorf("division by zero in %q", p.s)
			}
			if op == '/' {
				v /= w
			} else {
				v %= w
			}
		}
	}
	return 0, err
}

func (p *arith) unary() (int64, error) {
	p.skip()
	if p.i < len(p.s) && (p.s[p.i] == '-' || p.s[p.i] == '+') {
		neg := p.s[p.i] == '-'
		p.i++
		v, err := p.unary()
		if neg {
			v = -v
		}
		return v, err
	}
	if p.i < len(p.s) && p.s[p.i] == '(' {
		p.i++
		v, err := p.sum()
		if err != nil {
			return 0, err
		}
		p.skip()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return 0, fmt.Errorf("missing ) in %q", p.s)
		}
		p.i++
		return v, nil
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if start == p.i {
		return 0, fmt.Errorf("bad arithmetic %q: want a number at %q", p.s, p.s[p.i:])
	}
	return strconv.ParseInt(p.s[start:p.i], 10, 64)
}
