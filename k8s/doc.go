// Package k8s holds the Kubernetes and Istio manifests that run
// partnergate, envoyproxy/ratelimit and its Redis, the Helm chart (chart/)
// that renders the same objects with Envoy Gateway, Istio and Prometheus
// wiring on demand, an OpenTelemetry Collector config (otel/), and the
// tests that keep them honest.
//
// The tests decode every manifest, and every object the chart renders
// with the pinned Helm for each of its test values files, strictly into
// the typed API structs (k8s.io/api for Kubernetes kinds; istio.io/api
// protos, decoded with protojson, for the Istio specs; Envoy Gateway's,
// Gateway API's and the Prometheus Operator's own Go types), so an unknown
// field, a misspelt key or an unknown kind fails CI instead of being
// dropped by kubectl. They then assert the security properties the
// manifests promise (non-root, read-only root filesystem, dropped
// capabilities, probes, NetworkPolicies, secrets only by reference), that
// the chart's default render equals the plain manifests, that every edge
// sends Check the headers envoy/partner-edge.yaml sends it, that the rate
// limits equal the tiers', and that every PromQL query parses and selects
// metrics a running server exposes. The package has no non-test code.
package k8s
