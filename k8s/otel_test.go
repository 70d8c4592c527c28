package k8s

import (
	"net"
	"os"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/partnergate/partnergate/internal/config"
)

// TestOTelCollectorConfig checks the example Collector config's wiring
// without the Collector: every pipeline names components the config
// defines, traces come in over OTLP, and the Prometheus receiver scrapes
// partnergate's default metrics address and path.
func TestOTelCollectorConfig(t *testing.T) {
	b, err := os.ReadFile("otel/collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Receivers  map[string]map[string]any `json:"receivers"`
		Processors map[string]map[string]any `json:"processors"`
		Exporters  map[string]map[string]any `json:"exporters"`
		Service    struct {
			Pipelines map[string]struct {
				Receivers  []string `json:"receivers"`
				Processors []string `json:"processors"`
				Exporters  []string `json:"exporters"`
			} `json:"pipelines"`
		} `json:"service"`
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"traces", "metrics"} {
		if _, ok := c.Service.Pipelines[want]; !ok {
			t.Errorf("no %s pipeline", want)
		}
	}
	for name, p := range c.Service.Pipelines {
		for kind, refs := range map[string][]string{"receiver": p.Receivers, "processor": p.Processors, "exporter": p.Exporters} {
			defined := map[string]map[string]map[string]any{"receiver": c.Receivers, "processor": c.Processors, "exporter": c.Exporters}[kind]
			if len(refs) == 0 && kind != "processor" {
				t.Errorf("pipeline %s has no %s", name, kind)
			}
			for _, r := range refs {
				if _, ok := defined[r]; !ok {
					t.Errorf("pipeline %s names %s %s, which the config does not define", name, kind, r)
				}
			}
		}
		if i := slices.Index(p.Processors, "memory_limiter"); i != 0 {
			t.Errorf("pipeline %s: memory_limiter must come first", name)
		}
	}
	if !slices.Contains(c.Service.Pipelines["traces"].Receivers, "otlp") {
		t.Error("traces do not come in over OTLP")
	}

	// The Prometheus receiver scrapes what partnergate serves by default.
	var scrape struct {
		Config struct {
			ScrapeConfigs []struct {
				JobName       string `json:"job_name"`
				MetricsPath   string `json:"metrics_path"`
				StaticConfigs []struct {
					Targets []string `json:"targets"`
				} `json:"static_configs"`
			} `json:"scrape_configs"`
		} `json:"config"`
	}
	j, _ := yaml.Marshal(c.Receivers["prometheus"])
	if err := yaml.Unmarshal(j, &scrape); err != nil || len(scrape.Config.ScrapeConfigs) != 1 {
		t.Fatalf("prometheus receiver: %v %+v", err, scrape)
	}
	_, port, err := net.SplitHostPort(config.Default().MetricsListen)
	if err != nil {
		t.Fatal(err)
	}
	sc := scrape.Config.ScrapeConfigs[0]
	if sc.MetricsPath != "/metrics" || len(sc.StaticConfigs) != 1 || len(sc.StaticConfigs[0].Targets) != 1 {
		t.Fatalf("scrape config %+v: want one target at /metrics", sc)
	}
	if _, p, _ := net.SplitHostPort(sc.StaticConfigs[0].Targets[0]); p != port {
		t.Errorf("scrapes port %s, partnergate serves metrics on %s", p, port)
	}
	// partnergate exports over OTLP/HTTP unless told grpc.
	protocols, _ := c.Receivers["otlp"]["protocols"].(map[string]any)
	if _, ok := protocols["http"]; !ok {
		t.Errorf("otlp receiver protocols %v: partnergate's default, http/protobuf, is not received", protocols)
	}
}
