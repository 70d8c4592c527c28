package k8s

// Test strategy: the chart is rendered by the real Helm (the pinned
// binary the Makefile installs, named by PARTNERGATE_HELM_BIN) for every
// values file in chart/ci and the defaults, linted with `helm lint
// --strict`, and every rendered document is decoded strictly into its
// typed struct, as the plain manifests are. Each render then passes the
// plain manifests' own checks (pod security, probes, selectors,
// NetworkPolicies, no Secret shipped) and its partnergate config file is
// loaded with partnergate's config loader. The default render is compared
// object by object with the plain manifests, so the two cannot drift
// apart. Impossible values are rendered and must fail with a message that
// names the value to change. Without the binary the tests fail, except
// under -short, which runs only what needs no external tool.

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/policy"
	"github.com/partnergate/partnergate/internal/ratelimit"
)

const (
	chartDir     = "chart"
	chartRelease = "partnergate"
	chartNS      = "partnergate"
	// kubeVersion is the cluster version renders assume; the chart needs
	// 1.30 or later (preStop sleep).
	kubeVersion = "1.34.0"
)

// helmBin returns the Helm binary, or fails the test without one (skips
// under -short).
func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PARTNERGATE_HELM_BIN")
	if bin == "" {
		if testing.Short() {
			t.Skip("-short: the chart tests need Helm (PARTNERGATE_HELM_BIN)")
		}
		t.Fatal("PARTNERGATE_HELM_BIN is unset: run `make test`, which installs the pinned Helm and sets it")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("PARTNERGATE_HELM_BIN: %v", err)
	}
	return bin
}

// helm runs Helm with args and returns its standard output, or an error
// carrying its standard error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(strings.TrimSpace(stderr.String() + "\n" + stdout.String()))
	}
	return stdout.String(), nil
}

// chartValues returns the values files the chart is tested with, by
// name: "default" (no file) and each chart/ci/NAME-values.yaml.
func chartValues(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files in %s/ci (%v)", chartDir, err)
	}
	out := map[string]string{"default": ""}
	for _, f := range files {
		out[strings.TrimSuffix(filepath.Base(f), "-values.yaml")] = f
	}
	return out
}

// templateArgs is `helm template` for the test release with the values
// file (none if empty) and --set values.
func templateArgs(valuesFile string, set ...string) []string {
	args := []string{"template", chartRelease, chartDir, "--namespace", chartNS, "--kube-version", kubeVersion}
	if valuesFile != "" {
		args = append(args, "-f", valuesFile)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

// renderChart renders the chart and decodes every object strictly.
func renderChart(t *testing.T, valuesFile string, set ...string) *manifests {
	t.Helper()
	out, err := helm(t, templateArgs(valuesFile, set...)...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	m := newManifests()
	m.add(t, "helm template", []byte(out))
	if len(m.all) == 0 {
		t.Fatal("the chart rendered nothing")
	}
	return m
}

func TestChartLints(t *testing.T) {
	for name, f := range chartValues(t) {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir, "--kube-version", kubeVersion}
			if f != "" {
				args = append(args, "-f", f)
			}
			if out, err := helm(t, args...); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

func TestChartRenders(t *testing.T) {
	for name, f := range chartValues(t) {
		t.Run(name, func(t *testing.T) {
			m := renderChart(t, f)
			for _, obj := range m.all {
				meta := obj.(metav1.Object)
				if meta.GetNamespace() == "" {
					t.Errorf("%T %s has no namespace", obj, meta.GetName())
				}
				if _, secret := obj.(*corev1.Secret); secret {
					t.Errorf("the chart ships Secret %s: reference secrets, never render them", meta.GetName())
				}
			}
			checkPodSecurity(t, m)
			checkTargets(t, m)
			if len(m.netpols) > 0 {
				checkNetworkPolicyCoverage(t, m)
			}
			cfg, c := loadChartConfig(t, m)
			kind, err := config.StoreKind(cfg.Store)
			if err != nil {
				t.Fatalf("store: %v", err)
			}
			d := m.deployments[chartRelease]
			if kind == "sqlite" {
				if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
					t.Errorf("SQLite: %d replicas, strategy %s; want 1 and Recreate (one pod owns the volume)", *d.Spec.Replicas, d.Spec.Strategy.Type)
				}
				path := strings.TrimPrefix(cfg.Store, "sqlite://")
				if !mountedFrom(d, c, path, func(v corev1.Volume) bool {
					return v.PersistentVolumeClaim != nil && claimed(m, v.PersistentVolumeClaim.ClaimName)
				}) {
					t.Errorf("SQLite file %s is not on a PersistentVolumeClaim the chart renders", path)
				}
			}
			checkRatelimitAgrees(t, m, cfg)
		})
	}
}

// claimed reports whether m holds a ReadWriteOnce PersistentVolumeClaim
// name.
func claimed(m *manifests, name string) bool {
	for _, obj := range m.all {
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && pvc.Name == name {
			return slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce})
		}
	}
	return false
}

// TestChartAdminTLS: with adminTLS on (the default), the config's
// admin_tls files are the mounted TLS Secret's; with a mesh's mutual TLS
// instead, there is none and the config says admin_plaintext.
func TestChartAdminTLS(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		on           bool
	}{
		{"default", "", true},
		{"mesh-plaintext", filepath.Join(chartDir, "ci", "tls-values.yaml"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := renderChart(t, tc.values)
			var file struct {
				AdminPlaintext bool `json:"admin_plaintext"`
				AdminTLS       *struct {
					CertFile     string `json:"cert_file"`
					KeyFile      string `json:"key_file"`
					ClientCAFile string `json:"client_ca_file"`
				} `json:"admin_tls"`
			}
			if err := yaml.Unmarshal([]byte(m.configMaps[chartRelease].Data["partnergate.yaml"]), &file); err != nil {
				t.Fatal(err)
			}
			d := m.deployments[chartRelease]
			c := d.Spec.Template.Spec.Containers[0]
			if !tc.on {
				if file.AdminTLS != nil || !file.AdminPlaintext {
					t.Errorf("adminTLS off: admin_tls %+v, admin_plaintext %v; want none and true", file.AdminTLS, file.AdminPlaintext)
				}
				return
			}
			if file.AdminTLS == nil {
				t.Fatal("adminTLS on, but the config has no admin_tls")
			}
			for key, path := range map[string]string{"cert_file": file.AdminTLS.CertFile, "key_file": file.AdminTLS.KeyFile, "client_ca_file": file.AdminTLS.ClientCAFile} {
				if !mountedFrom(d, c, path, func(v corev1.Volume) bool {
					return v.Secret != nil && v.Secret.SecretName == "partnergate-admin-tls"
				}) {
					t.Errorf("admin_tls.%s %q is not in the mounted TLS Secret", key, path)
				}
			}
		})
	}
}

// secretStandIn stands in for a value the container takes from a Secret:
// one, for every render, as strong as a real admin token must be.
var secretStandIn = rand.Text() + rand.Text()

// loadChartConfig loads the partnergate ConfigMap's config file of a
// render with partnergate's own strict loader, the environment as the
// container sets it, and checks the files it names are mounted and the
// policy parses.
func loadChartConfig(t *testing.T, m *manifests) (*config.Config, corev1.Container) {
	t.Helper()
	cm, d := m.configMaps[chartRelease], m.deployments[chartRelease]
	if cm == nil || d == nil {
		t.Fatal("no partnergate ConfigMap and Deployment")
	}
	c := d.Spec.Template.Spec.Containers[0]
	cfgPath := filepath.Join(t.TempDir(), "partnergate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cm.Data["partnergate.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{config.EnvPrefix + "CONFIG": cfgPath}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, config.EnvPrefix) || e.Name == config.EnvPrefix+"CONFIG" {
			continue
		}
		switch {
		case e.Name == config.EnvPrefix+"STORE":
			env[e.Name] = "postgres://partnergate@db:5432/partnergate"
		case e.Value != "":
			env[e.Name] = strings.ReplaceAll(e.Value, "$(POD_IP)", "10.0.0.1")
		default: // from a Secret
			env[e.Name] = secretStandIn
		}
	}
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("partnergate config in the ConfigMap: %v", err)
	}
	if !mounted(c, cfg.PepperFile) || !mounted(c, cfg.PolicyFile) {
		t.Errorf("pepper_file %s and policy_file %s must be under mounted volumes", cfg.PepperFile, cfg.PolicyFile)
	}
	if _, err := policy.Parse([]byte(cm.Data[filepath.Base(cfg.PolicyFile)])); err != nil {
		t.Errorf("policy in the ConfigMap: %v", err)
	}
	// Validate as the server does at start, with the files it stats
	// standing in under a temporary directory (the policy with the
	// ConfigMap's content).
	v := *cfg
	for _, f := range []*string{&v.PolicyFile, &v.AdminTokenFile, &v.TLS.CertFile, &v.TLS.KeyFile, &v.TLS.ClientCAFile, &v.AdminTLS.CertFile, &v.AdminTLS.KeyFile, &v.AdminTLS.ClientCAFile} {
		if *f == "" {
			continue
		}
		local := filepath.Join(t.TempDir(), filepath.Base(*f))
		if err := os.WriteFile(local, []byte(cm.Data[filepath.Base(*f)]), 0o600); err != nil {
			t.Fatal(err)
		}
		*f = local
	}
	if err := v.Validate(); err != nil {
		t.Errorf("partnergate config in the ConfigMap does not validate: %v", err)
	}
	return cfg, c
}

// mountedFrom reports whether path lies under a mount of c whose volume
// is what ok accepts.
func mountedFrom(d *appsv1.Deployment, c corev1.Container, path string, ok func(corev1.Volume) bool) bool {
	for _, vm := range c.VolumeMounts {
		if !strings.HasPrefix(path, vm.MountPath+"/") {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && ok(v) {
				return true
			}
		}
	}
	return false
}

// checkRatelimitAgrees: the rate-limit service's config, when the chart
// renders the service, is exactly what partnergate's ratelimit section
// renders to, so the service knows every tier partnergate assigns.
func checkRatelimitAgrees(t *testing.T, m *manifests, cfg *config.Config) {
	t.Helper()
	cm := m.configMaps["ratelimit-config"]
	if cm == nil {
		if m.deployments["ratelimit"] != nil {
			t.Error("a ratelimit Deployment without its ConfigMap")
		}
		return
	}
	want, err := cfg.RateLimit.Render()
	if err != nil {
		t.Fatalf("ratelimit section: %v", err)
	}
	if got := cm.Data["partnergate.yaml"]; strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		t.Errorf("the ratelimit service's config\n%s\nis not what partnergate's ratelimit section renders\n%s", got, want)
	}
}

// TestChartDefaultMatchesManifests: with default values the chart renders
// the plain manifests' objects, field for field, except for the labels
// Helm adds and the config checksums; their config files load to the same
// configuration.
func TestChartDefaultMatchesManifests(t *testing.T) {
	plain, chart := load(t), renderChart(t, "")
	byKey := func(m *manifests) map[string]any {
		out := map[string]any{}
		for _, obj := range m.all {
			meta := obj.(metav1.Object)
			if meta.GetNamespace() == chartNS {
				out[kindOf(obj)+"/"+meta.GetName()] = obj
			}
		}
		return out
	}
	want, got := byKey(plain), byKey(chart)
	var wantKeys, gotKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	for k := range got {
		gotKeys = append(gotKeys, k)
	}
	slices.Sort(wantKeys)
	slices.Sort(gotKeys)
	if !slices.Equal(wantKeys, gotKeys) {
		t.Errorf("the default render has objects\n%v\nthe plain manifests\n%v", gotKeys, wantKeys)
	}
	ignore := cmp.Options{
		cmpopts.IgnoreFields(metav1.ObjectMeta{}, "Labels", "Annotations"),
		// The chart's selectors add the release label; compare the rest.
		cmp.Transformer("withoutInstance", func(l map[string]string) map[string]string {
			out := make(map[string]string, len(l))
			for k, v := range l {
				if k != "app.kubernetes.io/instance" {
					out[k] = v
				}
			}
			return out
		}),
	}
	for _, k := range wantKeys {
		g, ok := got[k]
		if !ok {
			continue
		}
		if k == "v1.ConfigMap/"+chartRelease {
			continue // compared as loaded configuration below
		}
		if diff := cmp.Diff(want[k], g, ignore); diff != "" {
			t.Errorf("%s differs from the plain manifest (-plain +chart):\n%s", k, diff)
		}
	}
	plainCfg, _ := loadChartConfig(t, plain)
	chartCfg, _ := loadChartConfig(t, chart)
	plainCfg.PolicyFile, chartCfg.PolicyFile = "", ""
	if diff := cmp.Diff(plainCfg, chartCfg, cmpopts.IgnoreUnexported(config.Config{})); diff != "" {
		t.Errorf("the default render's config differs from the plain ConfigMap's (-plain +chart):\n%s", diff)
	}
	// The policy file, parsed as YAML (the policy parser's result keeps
	// its rules unexported; loadChartConfig has parsed both already).
	var pp, cp any
	if err := yaml.Unmarshal([]byte(plain.configMaps[chartRelease].Data["policy.yaml"]), &pp); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(chart.configMaps[chartRelease].Data["policy.yaml"]), &cp); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pp, cp); diff != "" {
		t.Errorf("policy.yaml differs (-plain +chart):\n%s", diff)
	}
}

// kindOf names obj's type, as in "v1.Deployment".
func kindOf(obj any) string { return strings.TrimPrefix(fmt.Sprintf("%T", obj), "*") }

// TestChartRefusesImpossibleValues: values that cannot work fail the
// render with a message naming the value to change, and render nothing.
func TestChartRefusesImpossibleValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"sqlite-with-replicas", []string{"store.kind=sqlite", "hpa.enabled=false", "replicas=3"}, "replicas: 3 with store.kind sqlite"},
		{"sqlite-with-autoscaler", []string{"store.kind=sqlite", "replicas=1"}, "hpa.enabled with store.kind sqlite"},
		{"unknown-store", []string{"store.kind=mysql"}, `store.kind: "mysql" is not sqlite or postgres`},
		{"postgres-without-dsn", []string{"store.postgres.dsnSecret.name="}, "store.postgres.dsnSecret.name: required"},
		{"no-replicas", []string{"replicas=0", "hpa.enabled=false"}, "replicas: must be at least 1"},
		{"autoscaler-below-two", []string{"hpa.minReplicas=1"}, "hpa.minReplicas: must be at least 2"},
		{"autoscaler-max-below-min", []string{"hpa.minReplicas=5", "hpa.maxReplicas=3"}, "hpa.maxReplicas: 3 is below hpa.minReplicas 5"},
		{"no-pepper", []string{"pepper.secretName="}, "pepper.secretName: required"},
		{"no-admin-token", []string{"adminToken.secretName="}, "adminToken.secretName: required"},
		{"admin-tls-without-secret", []string{"adminTLS.secretName="}, "adminTLS.secretName: required"},
		{"admin-plaintext-off-loopback", []string{"adminTLS.enabled=false"}, "adminTLS: the admin API listens on the pod IP"},
		{"admin-tls-and-plaintext", []string{"adminTLS.enabled=true", "adminTLS.secretName=x", "adminTLS.plaintext=true"}, "adminTLS.plaintext: cannot be true"},
		{"redis-without-ratelimit", []string{"ratelimit.enabled=false"}, "redis.enabled without ratelimit.enabled"},
		{"ratelimit-without-redis", []string{"redis.enabled=false"}, "ratelimit.redisURL: required"},
		{"tiers-without-service-config", []string{"ratelimit.tiers[0].name=basic", "ratelimit.tiers[0].per_second=1"}, "ratelimit.serviceConfig: required"},
		{"envoy-gateway-without-gateway", []string{"envoyGateway.enabled=true"}, "envoyGateway.gateway.name: required"},
		{"envoy-gateway-without-backends", []string{"envoyGateway.enabled=true", "envoyGateway.gateway.name=edge", "envoyGateway.hostnames[0]=a.example.com"}, "envoyGateway.backendRefs: required"},
		{"envoy-gateway-without-hostnames", []string{"envoyGateway.enabled=true", "envoyGateway.gateway.name=edge", "envoyGateway.backendRefs[0].name=orders"}, "envoyGateway.hostnames: required"},
		{"no-edge-may-call-check", []string{"networkPolicy.checkFrom=null"}, "networkPolicy.checkFrom: empty"},
		{"rules-without-scrape", []string{"prometheusRule.enabled=true"}, "prometheusRule.enabled without serviceMonitor.enabled"},
		{"http-auth-trusting-nobody", []string{"httpAuth.enabled=true"}, "httpAuth.trustedProxies: required"},
		{"http-auth-reachable-from-nobody", []string{"httpAuth.enabled=true", "httpAuth.trustedProxies[0]=10.0.0.0/8", "httpAuth.from=null"}, "httpAuth.from: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helm(t, templateArgs("", tc.set...)...)
			if err == nil {
				t.Fatalf("the chart rendered %v:\n%.300s", tc.set, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template %v failed with\n%v\nwant a message containing %q", tc.set, err, tc.want)
			}
		})
	}
}

// TestChartFilesAreTheEnvoyFiles keeps the chart's copies of the tiers and
// the rate-limit service config (Helm reads no file outside the chart)
// equal to envoy/'s. Regenerate with:
// go test ./k8s -run TestChartFilesAreTheEnvoyFiles -update
func TestChartFilesAreTheEnvoyFiles(t *testing.T) {
	for _, f := range []string{"ratelimit-tiers.yaml", "ratelimit-config.yaml"} {
		t.Run(strings.TrimSuffix(f, ".yaml"), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("..", "envoy", f))
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(chartDir, "files", f)
			if *update {
				if err := os.WriteFile(dst, src, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, src) {
				t.Errorf("%s differs from envoy/%s; run: go test ./k8s -run %s -update", dst, f, t.Name())
			}
		})
	}
	// The chart's default tiers are a valid ratelimit section.
	b, err := os.ReadFile(filepath.Join(chartDir, "files", "ratelimit-tiers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ratelimit.Parse(b); err != nil {
		t.Errorf("chart/files/ratelimit-tiers.yaml: %v", err)
	}
}

// TestChartNetworkPolicyAdmitsEnvoyGateway: with Envoy Gateway on, its
// proxies' namespace may call Check, and nothing else changes.
func TestChartNetworkPolicyAdmitsEnvoyGateway(t *testing.T) {
	def := portPeers(t, renderChart(t, ""), chartRelease)
	eg := portPeers(t, renderChart(t, filepath.Join(chartDir, "ci", "envoy-gateway-values.yaml")), chartRelease)
	want := slices.Sorted(slices.Values(append(slices.Clone(def[9001]), "envoy-gateway-system")))
	if !slices.Equal(eg[9001], want) {
		t.Errorf("Check is reachable from %v, want %v", eg[9001], want)
	}
	for _, port := range []int32{9002, 9090} {
		if !slices.Equal(eg[port], def[port]) {
			t.Errorf("port %d: %v, want %v as by default", port, eg[port], def[port])
		}
	}
	// Envoy Gateway as the only edge.
	only := portPeers(t, renderChart(t, filepath.Join(chartDir, "ci", "envoy-gateway-values.yaml"), "networkPolicy.checkFrom=null"), chartRelease)
	if !slices.Equal(only[9001], []string{"envoy-gateway-system"}) {
		t.Errorf("with Envoy Gateway the only edge, Check is reachable from %v", only[9001])
	}
}
