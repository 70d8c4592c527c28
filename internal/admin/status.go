package admin

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/internal/partner"
)

// preconditionError reports a request that the target's current state does
// not allow, such as revoking a revoked key. The message is public.
type preconditionError struct{ msg string }

func (e *preconditionError) Error() string { return e.msg }

func precondition(msg string) error { return &preconditionError{msg: msg} }

// status maps an error from validation, the domain or the store to the gRPC
// status the client sees. It is the admin API's only such mapping. Messages
// of client errors are public; anything unexpected is logged with its cause
// and answered with a generic message.
func (s *Server) status(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	var fe *partner.FieldError
	var pe *preconditionError
	switch {
	case errors.As(err, &fe):
		st := status.New(codes.InvalidArgument, fe.Error())
		if d, derr := st.WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fe.Field, Description: fe.Msg}},
		}); derr == nil {
			st = d
		}
		return st.Err()
	case errors.As(err, &pe):
		return status.Error(codes.FailedPrecondition, pe.msg)
	case errors.Is(err, partner.ErrNotFound):
		return status.Error(codes.NotFound, publicMessage(err, "not found"))
	case errors.Is(err, partner.ErrExists):
		return status.Error(codes.AlreadyExists, publicMessage(err, "already exists"))
	case errors.Is(err, partner.ErrConflict):
		// Retries happen here already; what is left is contention.
		return status.Error(codes.Aborted, "concurrent update, try again")
	case errors.Is(err, partner.ErrUnavailable):
		s.logger().LogAttrs(ctx, slog.LevelWarn, "admin store unavailable",
			slog.String("method", method), slog.Any("error", err))
		return status.Error(codes.Unavailable, "the store is unavailable")
	case errors.Is(err, partner.ErrCorrupt):
		s.logger().LogAttrs(ctx, slog.LevelError, "admin store damaged",
			slog.String("method", method), slog.Any("error", err))
		return status.Error(codes.DataLoss, "the store's database is damaged (see the server log); restore it from a backup")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	s.logger().LogAttrs(ctx, slog.LevelError, "admin internal error",
		slog.String("method", method), slog.Any("error", err))
	return status.Error(codes.Internal, "internal error")
}

// namedError names the entity a store error is about, for a public
// message such as `partner "acme" not found`.
type namedError struct {
	what string
	err  error
}

func (e *namedError) Error() string { return e.what + " " + e.err.Error() }
func (e *namedError) Unwrap() error { return e.err }

// publicMessage returns err's message if it names its entity, else def.
func publicMessage(err error, def string) string {
	var ne *namedError
	if errors.As(err, &ne) {
		return ne.Error()
	}
	return def
}

// named wraps a store's ErrNotFound or ErrExists so the client learns which
// entity it concerns; other errors pass through.
func named(what string, err error) error {
	if errors.Is(err, partner.ErrNotFound) {
		return &namedError{what: what, err: partner.ErrNotFound}
	}
	if errors.Is(err, partner.ErrExists) {
		return &namedError{what: what, err: partner.ErrExists}
	}
	return err
}
