// Package k8s holds the Kubernetes and Istio manifests that run
// partnergate, envoyproxy/ratelimit and its Redis, and the tests that keep
// them honest.
//
// The tests decode every manifest strictly into the typed API structs
// (k8s.io/api for Kubernetes kinds; istio.io/api protos, decoded with
// protojson, for the Istio specs), so an unknown field, a misspelt key or an
// unknown kind fails CI instead of being dropped by kubectl. They then assert
// the security properties the manifests promise (non-root, read-only root
// filesystem, dropped capabilities, probes, NetworkPolicies, secrets only by
// reference) and that the generated ratelimit ConfigMap matches
// envoy/ratelimit-config.yaml. The package has no non-test code.
package k8s
