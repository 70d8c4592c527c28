package authz

import (
	"testing"

	"github.com/partnergate/partnergate/internal/policy"
)

// BenchmarkRequestChecks measures what every allowed Check spends on the
// path: policy.BadPath and the tenant-selector scan, on the request the
// load benchmark sends and on one that takes the slow paths.
func BenchmarkRequestChecks(b *testing.B) {
	for _, path := range []string{
		"/v1/orders?limit=25&status=open",
		"/v1/reports/2026.csv;v=1?partner%5Fid=acme&x=%EF%BD%90",
	} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if policy.BadPath(path) || tenantMismatch(headers{}, path, "acme") {
					b.Fatal("refused")
				}
			}
		})
	}
}
