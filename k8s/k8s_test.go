package k8s

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/policy"
)

// Test strategy: every document of every *.yaml here is decoded strictly
// (unknown and duplicate fields are errors) into the typed struct its
// apiVersion and kind name; an unknown kind is an error. The decoded
// objects are then checked for the properties the manifests promise, and
// the partnergate ConfigMap is loaded with partnergate's own config and
// policy parsers. TestStrictDecodingCatchesMistakes proves the decoding
// can fail.

var update = flag.Bool("update", false, "rewrite ratelimit-config.yaml and the chart's copies from envoy/")

const (
	generatedConfigMap = "ratelimit-config.yaml"
	envoyRatelimit     = "../envoy/ratelimit-config.yaml"
)

// AuthorizationPolicy is security.istio.io/v1 AuthorizationPolicy: Kubernetes
// metadata around the istio.io/api spec proto.
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              json.RawMessage `json:"spec"`
	spec              *securityv1beta1.AuthorizationPolicy
}

// EnvoyFilter is networking.istio.io/v1alpha3 EnvoyFilter: Kubernetes
// metadata around the istio.io/api spec proto.
type EnvoyFilter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              json.RawMessage `json:"spec"`
	spec              *networkingv1alpha3.EnvoyFilter
}

// IstioOperator is the subset of install.istio.io/v1alpha1 IstioOperator
// these manifests use: spec.meshConfig only, decoded as istio.io/api's
// MeshConfig. Any other spec field is refused (the full type lives in
// istio.io/istio, too large a dependency for one field).
type IstioOperator struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		MeshConfig json.RawMessage `json:"meshConfig"`
	} `json:"spec"`
	mesh *meshv1alpha1.MeshConfig
}

// kinds maps apiVersion/kind to a constructor of its typed struct.
var kinds = map[string]func() any{
	"v1/Namespace":                             func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/PersistentVolumeClaim":                 func() any { return &corev1.PersistentVolumeClaim{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":   func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":             func() any { return &networkingv1.Ingress{} },
	"traefik.io/v1alpha1/Middleware":           func() any { return &TraefikMiddleware{} },
	"security.istio.io/v1/AuthorizationPolicy": func() any { return &AuthorizationPolicy{} },
	"networking.istio.io/v1alpha3/EnvoyFilter": func() any { return &EnvoyFilter{} },
	"install.istio.io/v1alpha1/IstioOperator":  func() any { return &IstioOperator{} },
	// Envoy Gateway, Gateway API and Prometheus Operator kinds, which the
	// chart renders.
	"gateway.envoyproxy.io/v1alpha1/SecurityPolicy":       func() any { return &egv1a1.SecurityPolicy{} },
	"gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy": func() any { return &egv1a1.BackendTrafficPolicy{} },
	"gateway.networking.k8s.io/v1/HTTPRoute":              func() any { return &gwapiv1.HTTPRoute{} },
	"monitoring.coreos.com/v1/ServiceMonitor":             func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule":             func() any { return &monitoringv1.PrometheusRule{} },
}

// decode decodes one YAML document strictly into its typed struct.
func decode(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	mk, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %s/%s: add it to kinds with its typed struct", tm.APIVersion, tm.Kind)
	}
	obj := mk()
	// encoding/json (and so yaml.UnmarshalStrict) matches field names
	// case-insensitively and would accept readOnlyRootFileSystem; decode
	// as the API server does: case-sensitive, no unknown or duplicate
	// fields.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	strictErrs, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("%s: %w", tm.Kind, errors.Join(strictErrs...))
	}
	strict := protojson.UnmarshalOptions{} // unknown fields are errors
	switch o := obj.(type) {
	case *AuthorizationPolicy:
		o.spec = &securityv1beta1.AuthorizationPolicy{}
		if err := strict.Unmarshal(o.Spec, o.spec); err != nil {
			return nil, fmt.Errorf("AuthorizationPolicy spec: %w", err)
		}
	case *EnvoyFilter:
		o.spec = &networkingv1alpha3.EnvoyFilter{}
		if err := strict.Unmarshal(o.Spec, o.spec); err != nil {
			return nil, fmt.Errorf("EnvoyFilter spec: %w", err)
		}
	case *IstioOperator:
		o.mesh = &meshv1alpha1.MeshConfig{}
		if err := strict.Unmarshal(o.Spec.MeshConfig, o.mesh); err != nil {
			return nil, fmt.Errorf("IstioOperator spec.meshConfig: %w", err)
		}
	}
	return obj, nil
}

// split returns the non-empty documents of a multi-document YAML file.
func split(b []byte) ([][]byte, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if j, err := yaml.YAMLToJSON(doc); err == nil && string(j) != "null" {
			docs = append(docs, doc)
		}
	}
}

type manifests struct {
	all         []any
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	netpols     []*networkingv1.NetworkPolicy
}

func load(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := newManifests()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m.add(t, f, b)
	}
	if len(m.all) == 0 {
		t.Fatal("no manifests found")
	}
	return m
}

func newManifests() *manifests {
	return &manifests{
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		configMaps:  map[string]*corev1.ConfigMap{},
	}
}

// add decodes every document of the multi-document YAML b, from source,
// into m.
func (m *manifests) add(t *testing.T, source string, b []byte) {
	t.Helper()
	docs, err := split(b)
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	for i, doc := range docs {
		obj, err := decode(doc)
		if err != nil {
			t.Fatalf("%s document %d: %v", source, i+1, err)
		}
		m.all = append(m.all, obj)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			m.deployments[o.Name] = o
		case *corev1.Service:
			m.services[o.Name] = o
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *networkingv1.NetworkPolicy:
			m.netpols = append(m.netpols, o)
		}
	}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	for _, obj := range m.all {
		meta := obj.(metav1.Object)
		if _, ns := obj.(*corev1.Namespace); !ns && meta.GetNamespace() == "" {
			t.Errorf("%T %s has no namespace", obj, meta.GetName())
		}
	}
	for _, want := range []string{"partnergate", "ratelimit", "redis"} {
		if m.deployments[want] == nil {
			t.Errorf("no Deployment %s", want)
		}
	}
}

func TestNoSecretIsShipped(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		docs, _ := split(b)
		for _, doc := range docs {
			var tm metav1.TypeMeta
			_ = yaml.Unmarshal(doc, &tm)
			if tm.Kind == "Secret" {
				t.Errorf("%s ships a Secret: reference secrets, never commit them", f)
			}
		}
	}
}

func TestPodSecurity(t *testing.T) { checkPodSecurity(t, load(t)) }

// checkPodSecurity asserts the security settings every pod of m keeps.
func checkPodSecurity(t *testing.T, m *manifests) {
	t.Helper()
	for name, d := range m.deployments {
		t.Run(name, func(t *testing.T) {
			pod := d.Spec.Template.Spec
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("automountServiceAccountToken must be false")
			}
			psc := pod.SecurityContext
			if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("pod seccompProfile must be RuntimeDefault")
			}
			if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
				t.Error("pod must set a non-zero runAsUser")
			}
			for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Fatalf("container %s has no securityContext", c.Name)
				case !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot):
					t.Errorf("container %s: runAsNonRoot must be true", c.Name)
				case !isTrue(sc.ReadOnlyRootFilesystem):
					t.Errorf("container %s: readOnlyRootFilesystem must be true", c.Name)
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Errorf("container %s: allowPrivilegeEscalation must be false", c.Name)
				case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
					t.Errorf("container %s: must drop ALL capabilities and add none", c.Name)
				case sc.Privileged != nil && *sc.Privileged:
					t.Errorf("container %s is privileged", c.Name)
				}
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("container %s: cpu and memory requests and a memory limit are required", c.Name)
				}
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					t.Errorf("container %s: readiness and liveness probes are required", c.Name)
				}
				if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
					t.Errorf("container %s: image %q must be pinned", c.Name, c.Image)
				}
			}
		})
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func TestPartnergateDeployment(t *testing.T) {
	m := load(t)
	d := m.deployments["partnergate"]
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]

	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.GRPC == nil || p.GRPC.Port != 9001 {
			t.Errorf("%s probe must be a grpc probe on the Check port 9001", name)
		}
	}
	if svc := c.LivenessProbe.GRPC.Service; svc == nil || *svc == "" {
		t.Error("liveness must ask a health service of its own, not readiness's overall status")
	}
	if pod.TerminationGracePeriodSeconds == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		t.Error("graceful termination needs terminationGracePeriodSeconds and a preStop")
	} else if s := c.Lifecycle.PreStop.Sleep; s == nil || s.Seconds >= *pod.TerminationGracePeriodSeconds {
		t.Error("preStop must sleep for less than the termination grace period")
	}

	secretEnv := map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secretEnv[e.Name] = true
		}
		if strings.Contains(strings.ToUpper(e.Name), "TOKEN") || strings.Contains(strings.ToUpper(e.Name), "STORE") {
			if e.Value != "" {
				t.Errorf("%s must come from a Secret, not a literal", e.Name)
			}
		}
	}
	for _, want := range []string{config.EnvAdminToken, config.EnvPrefix + "STORE"} {
		if !secretEnv[want] {
			t.Errorf("%s must come from a Secret", want)
		}
	}
	var pepper bool
	for _, v := range pod.Volumes {
		if v.Name == "pepper" && v.Secret != nil {
			pepper = true
		}
	}
	if !pepper {
		t.Error("the pepper must be mounted from a Secret")
	}

	// The ConfigMap is partnergate's config file and policy: load them with
	// partnergate's own (strict) parsers, so a renamed key fails here.
	cm := m.configMaps["partnergate"]
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "partnergate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cm.Data["partnergate.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{config.EnvPrefix + "CONFIG": cfgPath}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, config.EnvPrefix) && e.Name != config.EnvPrefix+"CONFIG" {
			env[e.Name] = "placeholder"
			if e.Value != "" {
				env[e.Name] = strings.ReplaceAll(e.Value, "$(POD_IP)", "10.0.0.1")
			}
		}
	}
	env[config.EnvPrefix+"STORE"] = "postgres://partnergate@db:5432/partnergate"
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("partnergate config in the ConfigMap: %v", err)
	}
	if kind, err := config.StoreKind(cfg.Store); err != nil || kind != "postgres" {
		t.Errorf("store kind = %q, %v; several replicas need postgres", kind, err)
	}
	if !mounted(c, cfg.PepperFile) || !mounted(c, cfg.PolicyFile) {
		t.Errorf("pepper_file %s and policy_file %s must be under mounted volumes", cfg.PepperFile, cfg.PolicyFile)
	}
	// The admin API on the pod IP is TLS (or says a mesh provides mTLS),
	// from mounted files.
	if cfg.AdminTLS.CertFile == "" && !cfg.AdminPlaintext {
		t.Error("the admin API listens off loopback without admin_tls or admin_plaintext: it would refuse to start")
	}
	for _, f := range []string{cfg.AdminTLS.CertFile, cfg.AdminTLS.KeyFile, cfg.AdminTLS.ClientCAFile} {
		if f != "" && !mounted(c, f) {
			t.Errorf("admin_tls file %s must be under a mounted volume", f)
		}
	}
	if _, err := policy.Parse([]byte(cm.Data[filepath.Base(cfg.PolicyFile)])); err != nil {
		t.Errorf("policy in the ConfigMap: %v", err)
	}
}

func mounted(c corev1.Container, path string) bool {
	for _, vm := range c.VolumeMounts {
		if strings.HasPrefix(path, vm.MountPath+"/") {
			return true
		}
	}
	return false
}

// TestServicesAndBudgetsTargetDeployments keeps selectors, ports and
// targets consistent across the manifests.
func TestServicesAndBudgetsTargetDeployments(t *testing.T) { checkTargets(t, load(t)) }

func checkTargets(t *testing.T, m *manifests) {
	t.Helper()
	for _, s := range m.services {
		d := deploymentFor(m, s.Spec.Selector)
		if d == nil {
			t.Errorf("Service %s selects no Deployment", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			if !hasPort(d, p.TargetPort) {
				t.Errorf("Service %s port %s targets %s, which Deployment %s does not expose", s.Name, p.Name, p.TargetPort.String(), d.Name)
			}
		}
	}
	for _, obj := range m.all {
		switch o := obj.(type) {
		case *policyv1.PodDisruptionBudget:
			if deploymentFor(m, o.Spec.Selector.MatchLabels) == nil {
				t.Errorf("PodDisruptionBudget %s selects no Deployment", o.Name)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			d := m.deployments[o.Spec.ScaleTargetRef.Name]
			if o.Spec.ScaleTargetRef.Kind != "Deployment" || d == nil {
				t.Errorf("HPA %s targets nothing", o.Name)
			} else if o.Spec.MinReplicas == nil || *o.Spec.MinReplicas < 2 {
				t.Errorf("HPA %s must keep at least 2 replicas", o.Name)
			}
		}
	}
}

func deploymentFor(m *manifests, sel map[string]string) *appsv1.Deployment {
	for _, d := range m.deployments {
		match := len(sel) > 0
		for k, v := range sel {
			if d.Spec.Template.Labels[k] != v {
				match = false
			}
		}
		if match {
			return d
		}
	}
	return nil
}

func hasPort(d *appsv1.Deployment, p intstr.IntOrString) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return true
			}
		}
	}
	return false
}

func TestNetworkPolicies(t *testing.T) {
	m := load(t)
	checkNetworkPolicyCoverage(t, m)

	// Who may reach partnergate's ports.
	want := map[int32][]string{9001: {"istio-ingress", "partner-edge"}, 9002: {"partnergate-operators"}}
	got := portPeers(t, m, "partnergate")
	for port, namespaces := range want {
		if !slices.Equal(got[port], namespaces) {
			t.Errorf("port %d is reachable from %v, want only %v", port, got[port], namespaces)
		}
	}
}

// checkNetworkPolicyCoverage asserts every Deployment of m has a
// NetworkPolicy restricting both directions, with no ingress rule open to
// every source or port.
func checkNetworkPolicyCoverage(t *testing.T, m *manifests) {
	t.Helper()
	for name, d := range m.deployments {
		var covering []*networkingv1.NetworkPolicy
		for _, np := range m.netpols {
			if deploymentFor(&manifests{deployments: map[string]*appsv1.Deployment{name: d}}, np.Spec.PodSelector.MatchLabels) != nil {
				covering = append(covering, np)
			}
		}
		if len(covering) == 0 {
			t.Errorf("Deployment %s has no NetworkPolicy", name)
		}
		for _, np := range covering {
			if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				t.Errorf("NetworkPolicy %s must restrict ingress and egress", np.Name)
			}
			for _, r := range np.Spec.Ingress {
				if len(r.From) == 0 || len(r.Ports) == 0 {
					t.Errorf("NetworkPolicy %s has an ingress rule open to every source or port", np.Name)
				}
			}
		}
	}
}

// portPeers returns, for each port the NetworkPolicy name admits traffic
// to, the sorted namespaces it admits.
func portPeers(t *testing.T, m *manifests, name string) map[int32][]string {
	t.Helper()
	var pg *networkingv1.NetworkPolicy
	for _, np := range m.netpols {
		if np.Name == name {
			pg = np
		}
	}
	if pg == nil {
		t.Fatalf("no NetworkPolicy %s", name)
	}
	out := map[int32][]string{}
	for _, r := range pg.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port == nil {
				t.Errorf("NetworkPolicy %s has a rule for every port", name)
				continue
			}
			for _, peer := range r.From {
				out[p.Port.IntVal] = append(out[p.Port.IntVal], peerNamespaces(t, peer)...)
			}
		}
	}
	for _, ns := range out {
		slices.Sort(ns)
	}
	return out
}

// peerNamespaces lists the namespaces a peer admits, by name; any other
// kind of peer fails the test.
func peerNamespaces(t *testing.T, p networkingv1.NetworkPolicyPeer) []string {
	t.Helper()
	const nameLabel = "kubernetes.io/metadata.name"
	if p.IPBlock != nil || p.PodSelector != nil || p.NamespaceSelector == nil {
		t.Errorf("peer %+v must select namespaces by name only", p)
		return nil
	}
	var out []string
	if v, ok := p.NamespaceSelector.MatchLabels[nameLabel]; ok {
		out = append(out, v)
	}
	for _, e := range p.NamespaceSelector.MatchExpressions {
		if e.Key == nameLabel && e.Operator == metav1.LabelSelectorOpIn {
			out = append(out, e.Values...)
		} else {
			t.Errorf("peer selector %+v is not by namespace name", e)
		}
	}
	if len(out) == 0 {
		t.Errorf("peer %+v admits every namespace", p)
	}
	return out
}

func TestIstioWiring(t *testing.T) {
	m := load(t)
	providers := map[string]*meshv1alpha1.MeshConfig_ExtensionProvider{}
	var policies []*AuthorizationPolicy
	for _, obj := range m.all {
		switch o := obj.(type) {
		case *IstioOperator:
			for _, p := range o.mesh.GetExtensionProviders() {
				providers[p.GetName()] = p
			}
		case *AuthorizationPolicy:
			policies = append(policies, o)
		}
	}
	if len(policies) == 0 {
		t.Fatal("no AuthorizationPolicy")
	}
	for _, ap := range policies {
		if ap.spec.GetAction() != securityv1beta1.AuthorizationPolicy_CUSTOM {
			t.Errorf("AuthorizationPolicy %s: action %v, want CUSTOM", ap.Name, ap.spec.GetAction())
		}
		p := providers[ap.spec.GetProvider().GetName()]
		if p == nil {
			t.Fatalf("AuthorizationPolicy %s names provider %q, which meshConfig does not define", ap.Name, ap.spec.GetProvider().GetName())
		}
		g := p.GetEnvoyExtAuthzGrpc()
		if g == nil {
			t.Fatalf("provider %s is not envoyExtAuthzGrpc", p.GetName())
		}
		if g.GetFailOpen() || g.GetTimeout() == nil {
			t.Errorf("provider %s must fail closed with a timeout", p.GetName())
		}
		svc := m.services["partnergate"]
		if g.GetService() != svc.Name+"."+svc.Namespace+".svc.cluster.local" || g.GetPort() != 9001 {
			t.Errorf("provider %s points at %s:%d, not the partnergate Service's Check port", p.GetName(), g.GetService(), g.GetPort())
		}
	}
}

// TestRatelimitConfigMapIsGenerated keeps the ratelimit ConfigMap equal to
// envoy/ratelimit-config.yaml (itself generated from the tiers). Regenerate
// with: go test ./k8s -run TestRatelimitConfigMapIsGenerated -update
func TestRatelimitConfigMapIsGenerated(t *testing.T) {
	src, err := os.ReadFile(envoyRatelimit)
	if err != nil {
		t.Fatal(err)
	}
	cm := corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "ratelimit-config", Namespace: "partnergate"},
		Data:       map[string]string{"partnergate.yaml": string(src)},
	}
	body, err := yaml.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Code generated from envoy/ratelimit-config.yaml by k8s_test.go. DO NOT EDIT.\n" +
		"# Mounted by the ratelimit Deployment (ratelimit.yaml) as its config.\n" + string(body)
	if *update {
		if err := os.WriteFile(generatedConfigMap, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(generatedConfigMap)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is stale; run: go test ./k8s -run %s -update", generatedConfigMap, t.Name())
	}
	m := load(t)
	if m.configMaps["ratelimit-config"].Data["partnergate.yaml"] != string(src) {
		t.Error("the decoded ratelimit ConfigMap differs from envoy/ratelimit-config.yaml")
	}
}

// TestStrictDecodingCatchesMistakes proves decode refuses what kubectl
// might silently drop.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	b, err := os.ReadFile("partnergate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	istio, err := os.ReadFile("istio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		src      []byte
		old, new string
	}{
		{"unknown-field", b, "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"},
		{"wrong-case", b, "readOnlyRootFilesystem: true", "readonlyrootfilesystem: true"},
		{"duplicate-field", b, "replicas: 3", "replicas: 3\n  replicas: 4"},
		{"wrong-type", b, "replicas: 3", "replicas: three"},
		{"unknown-kind", b, "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets"},
		{"unknown-field-in-istio-spec", istio, "action: CUSTOM", "action: CUSTOM\n  actions: CUSTOM"},
		{"bad-enum-in-istio-spec", istio, "action: CUSTOM", "action: CUSTOMER"},
		{"unknown-field-in-mesh-config", istio, "failOpen: false", "failopen: false"},
		{"unknown-field-in-envoy-filter", istio, "applyTo: HTTP_FILTER", "applyTo: HTTP_FILTER\n      applyto: HTTP_FILTER"},
		{"bad-enum-in-envoy-filter", istio, "operation: MERGE", "operation: MERGED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(tt.src, []byte(tt.old)) {
				t.Fatalf("%q not found: update this test", tt.old)
			}
			docs, err := split(bytes.Replace(tt.src, []byte(tt.old), []byte(tt.new), 1))
			if err != nil {
				t.Fatal(err)
			}
			for _, doc := range docs {
				if _, err := decode(doc); err != nil {
					return
				}
			}
			t.Fatalf("decode accepted %q", tt.new)
		})
	}
}
