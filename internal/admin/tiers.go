package admin

import (
	"slices"
	"strings"

	"github.com/partnergate/partnergate/internal/partner"
)

// validateTier checks that tier is a well-formed tier name and, when
// s.Tiers is set, one of the configured tiers.
func (s *Server) validateTier(field, tier string) error {
	if err := partner.ValidateTier(field, tier); err != nil {
		return err
	}
	if len(s.Tiers) > 0 && !slices.Contains(s.Tiers, tier) {
		return partner.Invalid(field, "%q is not a configured tier (%s)", tier, strings.Join(s.Tiers, ", "))
	}
	return nil
}
