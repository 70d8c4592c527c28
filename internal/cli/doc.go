// Package cli is the partnergate command line: the root `partnergate`
// command and the operator commands (partner, key, audit) that talk to a
// running server's admin API over gRPC. The serve command is built
// elsewhere and handed to [New].
//
// It owns flag and environment handling for operators, output (aligned
// tables, or exactly one JSON object with --output json) and turning every
// failure into one line on stderr and a non-zero exit status. It must not
// open the database itself, so every replica's cache and the audit trail see
// every change, and it must never take the admin token from a flag (it would
// leak through shell history and the process list): the token comes from
// PARTNERGATE_ADMIN_TOKEN only.
//
// A command tree from [New] runs one command at a time; build a new one for
// each run.
package cli
