package forwardauth

// Paths the server answers; everything else is 404.
const (
	// AuthorizePath is asked by nginx auth_request, Traefik ForwardAuth,
	// Caddy forward_auth and APISIX forward-auth, with GET.
	AuthorizePath = "/authorize"
	// EnvoyPrefix is Envoy's http_service path_prefix: Envoy asks with
	// the original method at EnvoyPrefix followed by the original path.
	EnvoyPrefix = "/envoy"
	// ReadyPath answers 200 once the server can decide and until it
	// drains, 503 otherwise: for health checks and readiness probes.
	ReadyPath = "/readyz"
)
