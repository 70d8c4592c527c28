// Package config is partnergate's one configuration: defaults, a YAML
// file, PARTNERGATE_* environment variables and command-line flags, in
// rising precedence (flag > env > file > default).
//
// Loading is separate from applying: [Load] only parses, and
// [Config.Validate] is pure and reports every problem at once, each naming
// its key, so a bad config stops start-up with one clear message. Secrets
// never travel in flags or in this struct's printed form: the admin token
// comes from the environment or a file, and [Config.LogValue] redacts it.
package config
