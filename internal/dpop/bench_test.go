package dpop

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify is one proof's verification, Record included, against
// the ES256 signature check alone: the rest is what the proof's rules and
// its embedded key cost.
func BenchmarkVerify(b *testing.B) {
	b.Run("proof-es256", func(b *testing.B) {
		v := newVerifier(b, Options{ReplayCacheSize: 10 * b.N})
		proofs := make([]string, b.N)
		for i := range proofs {
			proofs[i] = mint(b, proofSpec{claims: jwt.MapClaims{"jti": fmt.Sprint(b.N, "-", i)}})
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := verifyAndRecord(v, proofs[i], request()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signature-only-es256", func(b *testing.B) {
		sum := sha256.Sum256([]byte("header.claims"))
		sig, err := ecdsa.SignASN1(nil, ecKey(), sum[:])
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if !ecdsa.VerifyASN1(&ecKey().PublicKey, sum[:], sig) {
				b.Fatal("bad signature")
			}
		}
	})
}
