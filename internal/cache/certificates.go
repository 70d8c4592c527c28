package cache

import (
	"context"
	"errors"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// The client certificates registered as partner credentials: an immutable
// map swapped atomically (copy-on-write), like the clients map.

// certKey is what a registration matches: a kind and its value.
type certKey struct {
	kind  partner.CertificateKind
	value string
}

// Certificate returns the registration of (kind, value).
func (c *Cache) Certificate(kind partner.CertificateKind, value string) (*partner.Certificate, bool) {
	cert, ok := (*c.certs.Load())[certKey{kind, value}]
	return cert, ok
}

// Certificates returns the number of certificate registrations held.
func (c *Cache) Certificates() int { return len(*c.certs.Load()) }

func (c *Cache) initCertificates() {
	certs := map[certKey]*partner.Certificate{}
	c.certs.Store(&certs)
}

// certificateVisitor adds the snapshot's registrations into certs.
func certificateVisitor(v *store.Visitor, certs map[certKey]*partner.Certificate) {
	v.Certificate = func(cert *partner.Certificate) error {
		certs[certKey{cert.Kind, cert.Value}] = cert
		return nil
	}
}

// applyCertificate applies one registration change, by the
// registration's id.
func (c *Cache) applyCertificate(ctx context.Context, ch store.Change) error {
	cert, err := c.src.GetCertificate(ctx, ch.ID)
	if err != nil && !errors.Is(err, partner.ErrNotFound) {
		return err
	}
	cur := *c.certs.Load()
	next := make(map[certKey]*partner.Certificate, len(cur)+1)
	for k, v := range cur {
		if v.ID != ch.ID {
			next[k] = v
		}
	}
	if cert != nil {
		next[certKey{cert.Kind, cert.Value}] = cert
	}
	c.certs.Store(&next)
	return nil
}
