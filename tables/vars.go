package tables

import (
	"fmt"
	"strings"
)

// Template is a table value with variables (docs/behaviour.md#variables): $node,
// $table.column and ${table.column}; an unbraced token ends at any character outside
// [A-Za-z0-9_.].
type Template struct {
	Raw   string
	parts []tpart
}

type tpart struct {
	lit        string
	table, col string // col set: a variable; table "" with col "node": the node name
}

// UnsetError is an unset variable value for a node.
type UnsetError struct {
	Node, Table, Column string
}

func (e *UnsetError) Error() string {
	if e.Table == "site" {
		return fmt.Sprintf("node %s: $site.%s is not set in table site", e.Node, e.Column)
	}
	return fmt.Sprintf("node %s: $%s.%s is not set (table %s, column %s, neither for the node nor its groups)", e.Node, e.Table, e.Column, e.Table, e.Column)
}

func isTokenByte(c byte) bool {
	return c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// ParseTemplate parses s, checking that every variable names the node, a site key or a
// column of a node-keyed table. "#CMD=" is refused (docs/behaviour.md#variables).
func ParseTemplate(s string) (Template, error) {
	t := Template{Raw: s}
	if strings.Contains(s, "#CMD=") {
		return t, fmt.Errorf("%q: #CMD=…# command execution is not supported (refused for safety); put the value in a table column and use $table.column", s)
	}
	var lit strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			lit.WriteByte(s[i])
			i++
			continue
		}
		var tok string
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return t, fmt.Errorf("%q: ${ at offset %d has no closing }", s, i)
			}
			tok = s[i+2 : i+2+end]
			i += 3 + end
		} else {
			j := i + 1
			for j < len(s) && isTokenByte(s[j]) {
				j++
			}
			tok = s[i+1 : j]
			i = j
		}
		p, err := parseToken(tok)
		if err != nil {
			return t, fmt.Errorf("%q: %v", s, err)
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, tpart{lit: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, p)
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tpart{lit: lit.String()})
	}
	return t, nil
}

func parseToken(tok string) (tpart, error) {
	if tok == "" {
		return tpart{}, fmt.Errorf("a $ with no variable name (write $node, $table.column or ${table.column})")
	}
	if tok == "node" {
		return tpart{col: "node"}, nil
	}
	for i := 0; i < len(tok); i++ {
		if !isTokenByte(tok[i]) {
			return tpart{}, fmt.Errorf("variable ${%s}: %q is not allowed in a variable name", tok, tok[i])
		}
	}
	table, col, ok := strings.Cut(tok, ".")
	if !ok {
		return tpart{}, fmt.Errorf("variable $%s: want $node or $table.column", tok)
	}
	sc, err := LookupSchema(table)
	if err != nil {
		return tpart{}, fmt.Errorf("variable $%s: %v", tok, err)
	}
	if table != "site" {
		if !sc.NodeKeyed {
			return tpart{}, fmt.Errorf("variable $%s: table %s is not keyed by node, so it has no value per node", tok, table)
		}
		if sc.Col(col) < 0 {
			return tpart{}, fmt.Errorf("variable $%s: table %s has no column %q (columns: %s)", tok, table, col, strings.Join(sc.Columns, ","))
		}
	} else if col == "" {
		return tpart{}, fmt.Errorf("variable $%s: want $site.<key>", tok)
	}
	return tpart{table: table, col: col}, nil
}

// HasVars reports whether the template holds any variable.
func (t Template) HasVars() bool {
	for _, p := range t.parts {
		if p.col != "" {
			return true
		}
	}
	return false
}

// Expand substitutes the template's variables for node; an unset value is an *UnsetError.
func (s *Snapshot) Expand(node string, t Template) (string, error) {
	if len(t.parts) == 1 && t.parts[0].col == "" {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch {
		case p.col == "":
			b.WriteString(p.lit)
		case p.table == "" && p.col == "node":
			b.WriteString(node)
		case p.table == "site":
			v, ok := s.Site(p.col)
			if !ok || v == "" {
				return "", &UnsetError{Node: node, Table: "site", Column: p.col}
			}
			b.WriteString(v)
		default:
			v, _, ok := s.NodeAttr(node, p.table, p.col)
			if !ok {
				return "", &UnsetError{Node: node, Table: p.table, Column: p.col}
			}
			b.WriteString(v)
		}
	}
	return b.String(), nil
}
