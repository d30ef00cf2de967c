package tables

import (
	"strings"
	"testing"
)

func TestIsRegexCell(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{`/\z/-bmc/`, true},
		{`|\D+(\d+)|10.0.0.($1+100)|`, true},
		{`|a|b|`, true},
		{`|||`, true},
		// xCAT's test is ^/[^/]*/[^/]*/$: exactly three slashes, first and last. So a
		// directory value with two components and a trailing slash, such as /a/b/, IS a
		// regex cell (substitute "a" by "b" in the node name), as in xCAT; one with one
		// component (/install/) or three (/a/b/c/) is not.
		{`/a/b/`, true},
		{`/install/`, false},
		{`/a/b/c/`, false},
		{`/a/b`, false},
		{`/install`, false},
		{`//`, false},
		{`/`, false},
		{``, false},
		{`ab`, false},
		{`|a|b`, false},
		{`|ab|`, false},
		{`a|b|c|`, false},
		{`10.0.0.1`, false},
		{`compute,all`, false},
	}
	for _, tt := range tests {
		if got := IsRegexCell(tt.v); got != tt.want {
			t.Errorf("IsRegexCell(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestApplyRegexCell(t *testing.T) {
	tests := []struct {
		cell, node string
		want       string
		err        string // want an error containing this
	}{
		{cell: `/\z/-bmc/`, node: "n1", want: "n1-bmc"},
		{cell: `/\z/-bmc/`, node: "node001", want: "node001-bmc"},
		{cell: `/^/pre-/`, node: "n1", want: "pre-n1"},
		{cell: `/n(\d+)/host$1/`, node: "n42", want: "host42"},
		{cell: `/n(\d+)/host\1/`, node: "n42", want: "host42"},
		{cell: `/n(\d+)/host${1}x/`, node: "n42", want: "host42x"},
		{cell: `/a/b/`, node: "rack-a1", want: "rbck-a1"}, // first match only
		{cell: `/\d/X/`, node: "n123", want: "nX23"},      // first match only
		{cell: `/xyz/abc/`, node: "n1", want: "n1"},       // no match leaves the name
		{cell: `/^n\d+$//`, node: "n1", want: ""},         // empty: the caller treats it as unset
		{cell: `|\D+(\d+)|10.0.0.($1+100)|`, node: "n5", want: "10.0.0.105"},
		{cell: `|\D+(\d+)|10.0.0.($1+100)|`, node: "node17", want: "10.0.0.117"},
		{cell: `|\D+(\d+)|r($1/4)|`, node: "n1", want: "r0"},
		{cell: `|\D+(\d+)|r($1/4)|`, node: "n5", want: "r1"},
		{cell: `|\D+(\d+)|r($1/4)|`, node: "n13", want: "r3"},
		{cell: `|\D+(\d+)|slot($1%4)|`, node: "n7", want: "slot3"},
		{cell: `|\D+(\d+)|($1*2-1)|`, node: "n5", want: "9"},
		{cell: `|\D+(\d+)|(-$1+1)|`, node: "n5", want: "-4"},
		{cell: `|\D+(\d+)|10.0.(($1-1)/4+1).(($1-1)%4+1)|`, node: "n5", want: "10.0.2.1"},
		{cell: `|\D+(\d+)|10.0.(($1-1)/4+1).(($1-1)%4+1)|`, node: "n8", want: "10.0.2.4"},
		{cell: `|\D+(\d+)|10.0.((($1-1)/4)+1).($1)|`, node: "n9", want: "10.0.3.9"},
		{cell: `|\D+(\d+)|( $1 + 1 )|`, node: "n1", want: "2"},
		{cell: `|n(\d+)-(\d+)|($1*100+$2)|`, node: "n3-07", want: "307"},
		// Integer division truncates toward zero (Perl "use integer").
		{cell: `|\D+(\d+)|(0-$1/2)|`, node: "n5", want: "-2"},
		// Without parentheses the | form is a plain substitution.
		{cell: `|^n|node|`, node: "n5", want: "node5"},
		{cell: `|xyz|abc|`, node: "n5", want: "n5"},
		// Not a regex cell: returned as it is.
		{cell: `/install/`, node: "n5", want: "/install/"},
		{cell: `plain`, node: "n5", want: "plain"},
		// Errors.
		{cell: `/(/x/`, node: "n1", err: "regex cell"},
		{cell: `|(|x|`, node: "n1", err: "regex cell"},
		{cell: `|\D+(\d+)|($1/0)|`, node: "n5", err: "division by zero"},
		{cell: `|\D+(\d+)|($1%0)|`, node: "n5", err: "division by zero"},
		{cell: `|\D+(\d+)|($1+)|`, node: "n5", err: "bad arithmetic"},
		{cell: `|\D+(\d+)|($1 x 2)|`, node: "n5", err: "for node n5"},
		// When the pattern does not match, the expression is evaluated on the bare node
		// name, which is not arithmetic: an error (the lookup then counts it as unset).
		{cell: `|xyz(\d+)|($1+1)|`, node: "n5", err: "bad arithmetic"},
	}
	for _, tt := range tests {
		got, err := ApplyRegexCell(tt.cell, tt.node)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ApplyRegexCell(%q, %s) = %q, %v; want error containing %q", tt.cell, tt.node, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ApplyRegexCell(%q, %s) = %q, %v; want %q", tt.cell, tt.node, got, err, tt.want)
		}
	}
}
