#!/bin/sh
# Regenerates the Go code for proto/ from its .proto files. Needs only Go:
# buf and both protoc plugins are fetched through the Go module proxy at the
# pinned versions below (the first run builds buf, about a minute).
set -eu
cd "$(dirname "$0")"
BUF_VERSION=v1.75.0
go run "github.com/bufbuild/buf/cmd/buf@${BUF_VERSION}" lint
go run "github.com/bufbuild/buf/cmd/buf@${BUF_VERSION}" generate
