package ratelimit

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Config is a rate-limit configuration as an operator writes it: the
// envoyproxy/ratelimit domain, the tiers and the per-partner overrides.
type Config struct {
	// Domain must equal the domain of Envoy's ratelimit filter.
	Domain    string     `yaml:"domain" json:"domain" help:"envoyproxy/ratelimit domain; must equal the domain of Envoy's ratelimit filter"`
	Tiers     []Tier     `yaml:"tiers" json:"tiers" help:"rate-limit tiers partners are assigned to; see Rate limits" doc:"none"`
	Overrides []Override `yaml:"overrides,omitempty" json:"overrides,omitempty" help:"per-partner limit overrides; see Rate limits" doc:"none"`
}

// Parse decodes a YAML [Config] strictly (an unknown field is an error, so
// a misspelt "per_secnd" cannot silently mean "no limit") and validates it.
func Parse(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("ratelimit config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("ratelimit config: %w", err)
	}
	return c, nil
}

// Validate reports every problem with c; see [Validate].
func (c Config) Validate() error { return Validate(c.Domain, c.Tiers, c.Overrides) }

// Render renders c; see [Render].
func (c Config) Render() ([]byte, error) { return Render(c.Domain, c.Tiers, c.Overrides) }

// ValidateAt is [Config.Validate] for a configuration nested under key in a
// larger file: each field is reported as key + "." + field, as in
// "ratelimit.tiers[1].per_minute".
func (c Config) ValidateAt(key string) error {
	if err := c.Validate(); err != nil {
		return prefix(key+".", err)
	}
	return nil
}

// HasTier reports whether c configures a tier named name.
func (c Config) HasTier(name string) bool {
	for _, t := range c.Tiers {
		if t.Name == name {
			return true
		}
	}
	return false
}

// TierNames returns the names of c's tiers, in configured order.
func (c Config) TierNames() []string {
	names := make([]string, len(c.Tiers))
	for i, t := range c.Tiers {
		names[i] = t.Name
	}
	return names
}
