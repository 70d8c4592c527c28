// Package adminv1 holds the Go code generated from admin.proto: the messages
// and the gRPC client and server stubs of partnergate's admin API. Do not
// edit the *.pb.go files; change admin.proto and run proto/generate.sh
// (make generate).
package adminv1
