package config

import (
	"strings"
)

// Table returns the configuration table of the README: one row per
// setting, with its flag, variable, default and the description --help
// shows. The README holds it between the markers TableBegin and TableEnd,
// and a test keeps the two the same (go test ./internal/config -update
// rewrites the README's copy).
func Table() string {
	var b strings.Builder
	b.WriteString("| key | flag | env | default | meaning |\n| --- | --- | --- | --- | --- |\n")
	def := Default()
	for _, s := range def.settings() {
		flag, env := "`--"+s.flag+"`", "`"+s.env+"`"
		if s.list {
			flag, env = "config file only", "—"
		}
		dflt := s.doc
		if dflt == "" {
			dflt = "`" + shown(s.v) + "`"
			if shown(s.v) == "" {
				dflt = "none"
			}
		}
		b.WriteString("| `" + s.key + "` | " + flag + " | " + env + " | " + dflt + " | " + strings.ReplaceAll(s.help, "|", `\|`) + " |\n")
	}
	return b.String()
}

// The markers around the README's configuration table.
const (
	TableBegin = "<!-- configuration table: generated from internal/config, do not edit -->"
	TableEnd   = "<!-- end of configuration table -->"
)
