package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// unknownField matches yaml's message for a key no struct field takes.
var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)

// typeError turns yaml's multi-line unmarshal error into one line that
// names each bad key by its path in doc, as in
// `ratelimit.tiers[0].per_secnd: unknown field (line 3)`: the CLI prints
// one line per error, and yaml's first line names nothing.
func typeError(doc []byte, te *yaml.TypeError) error {
	var root yaml.Node
	_ = yaml.Unmarshal(doc, &root) // it decoded far enough to report te
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := unknownField.FindStringSubmatch(e)
		if m == nil {
			msgs = append(msgs, e)
			continue
		}
		line, _ := strconv.Atoi(m[1])
		if path, ok := keyPath(&root, "", line, m[2]); ok {
			msgs = append(msgs, fmt.Sprintf("%s: unknown field (line %d)", path, line))
		} else {
			msgs = append(msgs, fmt.Sprintf("%s: unknown field (line %d)", m[2], line))
		}
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// keyPath finds the mapping key named key on line and returns its path
// from n, dotted for mappings and indexed for sequences.
func keyPath(n *yaml.Node, prefix string, line int, key string) (string, bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p, ok := keyPath(c, prefix, line, key); ok {
				return p, true
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			if k.Line == line && k.Value == key {
				return p, true
			}
			if q, ok := keyPath(v, p, line, key); ok {
				return q, true
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p, ok := keyPath(c, fmt.Sprintf("%s[%d]", prefix, i), line, key); ok {
				return p, true
			}
		}
	}
	return "", false
}
