package tables

import (
	"sort"
	"strconv"
	"strings"
)

// FoldNodes writes a set of node names as a short noderange that expands back to the
// same set: three or more names that differ only in a trailing number counting up by
// one become prefix[lo-hi] (n[001-128], keeping the zero padding); other names are
// listed. Items are joined by commas, ordered by prefix and number.
func FoldNodes(nodes []string) string {
	type item struct {
		name, prefix, digits string
		num                  int64
		ok                   bool
	}
	items := make([]item, 0, len(nodes))
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n] {
			continue
		}
		seen[n] = true
		i := len(n)
		for i > 0 && n[i-1] >= '0' && n[i-1] <= '9' {
			i--
		}
		it := item{name: n, prefix: n[:i], digits: n[i:]}
		if it.digits != "" && len(it.digits) <= 15 {
			it.num, _ = strconv.ParseInt(it.digits, 10, 64)
			it.ok = true
		}
		items = append(items, it)
	}
	sort.Slice(items, func(a, b int) bool {
		x, y := items[a], items[b]
		if x.prefix != y.prefix {
			return x.prefix < y.prefix
		}
		if x.ok != y.ok {
			return !x.ok
		}
		if x.num != y.num {
			return x.num < y.num
		}
		return x.digits < y.digits
	})
	padded := func(d string) bool { return len(d) > 1 && d[0] == '0' }
	var out []string
	for i := 0; i < len(items); {
		it := items[i]
		j := i + 1
		if it.ok {
			width := 0
			if padded(it.digits) {
				width = len(it.digits)
			}
			for j < len(items) {
				nx := items[j]
				if !nx.ok || nx.prefix != it.prefix || nx.num != items[j-1].num+1 {
					break
				}
				if width > 0 && len(nx.digits) != width || width == 0 && padded(nx.digits) {
					break
				}
				j++
			}
		}
		if j-i >= 3 {
			out = append(out, it.prefix+"["+it.digits+"-"+items[j-1].digits+"]")
		} else {
			for _, x := range items[i:j] {
				out = append(out, x.name)
			}
		}
		i = j
	}
	return strings.Join(out, ",")
}
