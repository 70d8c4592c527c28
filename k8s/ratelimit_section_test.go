package k8s

import (
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/partnergate/partnergate/internal/ratelimit"
)

// TestRatelimitSectionRendersTheRatelimitConfigMap: the tiers partnergate
// accepts (its ConfigMap's ratelimit section, which TestPartnergateDeployment
// loads with the strict config loader) render to exactly the config the
// ratelimit Deployment mounts, so a partner can be given no tier the
// rate-limit service does not know, and no tier's limits differ between
// the two.
func TestRatelimitSectionRendersTheRatelimitConfigMap(t *testing.T) {
	m := load(t)
	var file struct {
		RateLimit ratelimit.Config `json:"ratelimit"`
	}
	if err := yaml.Unmarshal([]byte(m.configMaps["partnergate"].Data["partnergate.yaml"]), &file); err != nil {
		t.Fatal(err)
	}
	if len(file.RateLimit.Tiers) == 0 {
		t.Fatal("the partnergate ConfigMap has no ratelimit tiers")
	}
	got, err := file.RateLimit.Render()
	if err != nil {
		t.Fatalf("ratelimit section: %v", err)
	}
	if want := m.configMaps["ratelimit-config"].Data["partnergate.yaml"]; string(got) != want {
		t.Errorf("the partnergate ConfigMap's ratelimit section renders\n%s\nbut the ratelimit ConfigMap holds\n%s", got, want)
	}
}
