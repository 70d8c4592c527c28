package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/secretscan"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	"github.com/partnergate/partnergate/internal/telemetry"
)

// secretScanning is the leaked-key endpoint, when configured.
type secretScanning struct {
	lis net.Listener
	srv *http.Server
}

// startSecretScanning binds secret_scanning.listen and serves the
// programs that have a public_keys_url; nil when the endpoint is off.
// Each program's keys are fetched once in the background: a key server
// that is down at start delays nothing, and the first report retries.
func startSecretScanning(ctx context.Context, cfg *config.Config, st *sqlstore.Store, format apikey.Format,
	hasher *apikey.Hasher, idx *cache.Cache, metrics *telemetry.Metrics, log *slog.Logger) (*secretScanning, error) {
	sc := cfg.SecretScanning
	if sc.Listen == "" {
		return nil, nil
	}
	log = log.With("component", "secret-scanning")
	h := &secretscan.Handler{
		Keys:   st,
		Format: format,
		Hasher: hasher,
		Sync:   writeSync{idx}.Sync,
		Logger: log,
	}
	if metrics != nil {
		h.Leaked = metrics.KeyLeaked
	}
	for _, p := range []struct {
		url     string
		program func(*secretscan.KeySet) secretscan.Program
	}{
		{sc.GitHub.PublicKeysURL, secretscan.GitHub},
		{sc.GitLab.PublicKeysURL, secretscan.GitLab},
	} {
		if p.url == "" {
			continue
		}
		ks, err := secretscan.NewKeySet(secretscan.KeySetOptions{URL: p.url, Logger: log})
		if err != nil {
			return nil, err
		}
		h.Programs = append(h.Programs, p.program(ks))
		go func() { _ = ks.Refresh(ctx) }() // logged on failure
	}
	lis, err := net.Listen("tcp", sc.Listen)
	if err != nil {
		return nil, fmt.Errorf("secret_scanning.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(secretscan.Prefix, h) // nothing else: this port faces the internet
	s := &secretScanning{lis: lis, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	programs := make([]string, 0, len(h.Programs))
	for _, p := range h.Programs {
		programs = append(programs, secretscan.Prefix+p.Name)
	}
	log.Info("secret scanning endpoint", "listen", lis.Addr().String(), "routes", programs)
	return s, nil
}

// serve serves until shutdown; it returns nil once shut down.
func (s *secretScanning) serve() error {
	if err := s.srv.Serve(s.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("secret scanning: %w", err)
	}
	return nil
}

// shutdown lets in-flight reports finish for up to grace.
func (s *secretScanning) shutdown(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

func (s *secretScanning) addr() net.Addr {
	if s == nil {
		return nil
	}
	return s.lis.Addr()
}
