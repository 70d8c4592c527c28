{{/*
partnergate.fullname is the name of the partnergate objects: the release
name, or "partnergate" when the release is named after the chart.
*/}}
{{- define "partnergate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "partnergate.labels" -}}
app.kubernetes.io/name: partnergate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "partnergate.selector" -}}
app.kubernetes.io/name: partnergate
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ratelimit.selector" -}}
app.kubernetes.io/name: ratelimit
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "redis.selector" -}}
app.kubernetes.io/name: redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The names of the ratelimit and Redis objects. */}}
{{- define "ratelimit.name" -}}{{ include "partnergate.fullname" . | replace "partnergate" "ratelimit" }}{{- end -}}
{{- define "redis.name" -}}{{ include "partnergate.fullname" . | replace "partnergate" "redis" }}{{- end -}}

{{/*
partnergate.namespaceIn renders a NetworkPolicy peer that admits the
namespaces named in the list, by their API-server-set name label (a
namespace cannot claim another's name).
*/}}
{{- define "partnergate.namespaceIn" -}}
{{- if eq (len .) 1 -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ first . }}
{{- else -}}
- namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: In
        values: {{ toJson . }}
{{- end -}}
{{- end -}}

{{/*
partnergate.validate refuses values that cannot work, each with the value
to change. It renders nothing.
*/}}
{{- define "partnergate.validate" -}}
{{- $v := .Values -}}
{{- $kind := $v.store.kind -}}
{{- if not (has $kind (list "sqlite" "postgres")) -}}
{{- fail (printf "store.kind: %q is not sqlite or postgres" $kind) -}}
{{- end -}}
{{- if and (eq $kind "sqlite") (gt (int $v.replicas) 1) -}}
{{- fail (printf "replicas: %d with store.kind sqlite: the SQLite file lives on one ReadWriteOnce volume, so run one replica or use store.kind postgres" (int $v.replicas)) -}}
{{- end -}}
{{- if and (eq $kind "sqlite") $v.hpa.enabled -}}
{{- fail "hpa.enabled with store.kind sqlite: an autoscaler would add replicas that cannot share the SQLite file; set hpa.enabled false or use store.kind postgres" -}}
{{- end -}}
{{- if and (eq $kind "postgres") (not $v.store.postgres.dsnSecret.name) -}}
{{- fail "store.postgres.dsnSecret.name: required with store.kind postgres (a Secret holding the DSN)" -}}
{{- end -}}
{{- if lt (int $v.replicas) 1 -}}
{{- fail "replicas: must be at least 1: every request depends on Check" -}}
{{- end -}}
{{- if $v.hpa.enabled -}}
{{- if lt (int $v.hpa.minReplicas) 2 -}}
{{- fail "hpa.minReplicas: must be at least 2, so a node drain never leaves Check without a replica" -}}
{{- end -}}
{{- if gt (int $v.hpa.minReplicas) (int $v.hpa.maxReplicas) -}}
{{- fail (printf "hpa.maxReplicas: %d is below hpa.minReplicas %d" (int $v.hpa.maxReplicas) (int $v.hpa.minReplicas)) -}}
{{- end -}}
{{- end -}}
{{- if and $v.httpAuth.enabled (not $v.httpAuth.trustedProxies) -}}
{{- fail "httpAuth.trustedProxies: required with httpAuth.enabled: the ingress controllers' pod network, whose forwarded headers partnergate honours" -}}
{{- end -}}
{{- if and $v.httpAuth.enabled (not $v.httpAuth.from) -}}
{{- fail "httpAuth.from: required with httpAuth.enabled: the namespaces of the ingress controllers that may reach the HTTP port" -}}
{{- end -}}
{{- if not $v.pepper.secretName -}}
{{- fail "pepper.secretName: required: API keys are hashed with a pepper that lives outside the store" -}}
{{- end -}}
{{- if not $v.adminToken.secretName -}}
{{- fail "adminToken.secretName: required: the admin API needs a token" -}}
{{- end -}}
{{- if and $v.adminTLS.enabled (not $v.adminTLS.secretName) -}}
{{- fail "adminTLS.secretName: required with adminTLS.enabled (a kubernetes.io/tls Secret)" -}}
{{- end -}}
{{- if not (or $v.adminTLS.enabled $v.adminTLS.plaintext) -}}
{{- fail "adminTLS: the admin API listens on the pod IP: set adminTLS.enabled (a kubernetes.io/tls Secret), or adminTLS.plaintext if a mesh provides mutual TLS" -}}
{{- end -}}
{{- if and $v.adminTLS.enabled $v.adminTLS.plaintext -}}
{{- fail "adminTLS.plaintext: cannot be true with adminTLS.enabled: choose TLS here or a mesh that provides mTLS" -}}
{{- end -}}
{{- if and $v.redis.enabled (not $v.ratelimit.enabled) -}}
{{- fail "redis.enabled without ratelimit.enabled: Redis holds only the rate-limit service's counters; turn both on or both off" -}}
{{- end -}}
{{- if and $v.ratelimit.enabled (not $v.redis.enabled) (not $v.ratelimit.redisURL) -}}
{{- fail "ratelimit.redisURL: required with ratelimit.enabled and redis.enabled false (host:port of your Redis)" -}}
{{- end -}}
{{- if and $v.ratelimit.tiers (not $v.ratelimit.serviceConfig) -}}
{{- fail "ratelimit.serviceConfig: required when ratelimit.tiers is set: paste what `partnergate ratelimit-config` renders from the same tiers, so the service knows every tier partnergate assigns" -}}
{{- end -}}
{{- if and $v.envoyGateway.enabled (not $v.envoyGateway.gateway.name) -}}
{{- fail "envoyGateway.gateway.name: required with envoyGateway.enabled (the Gateway the HTTPRoute attaches to)" -}}
{{- end -}}
{{- if and $v.envoyGateway.enabled (not $v.envoyGateway.backendRefs) -}}
{{- fail "envoyGateway.backendRefs: required with envoyGateway.enabled (the partner API's upstream Services)" -}}
{{- end -}}
{{- if and $v.envoyGateway.enabled (not $v.envoyGateway.hostnames) -}}
{{- fail "envoyGateway.hostnames: required with envoyGateway.enabled: a route without hostnames would take every host of the Gateway" -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (not $v.networkPolicy.checkFrom) (not $v.envoyGateway.enabled) -}}
{{- fail "networkPolicy.checkFrom: empty: no edge could call Check; name the edge namespaces, or set networkPolicy.enabled false" -}}
{{- end -}}
{{- if and $v.prometheusRule.enabled (not $v.serviceMonitor.enabled) (not $v.prometheusRule.withoutServiceMonitor) -}}
{{- fail "prometheusRule.enabled without serviceMonitor.enabled: the rules would watch series nothing scrapes; enable serviceMonitor, or set prometheusRule.withoutServiceMonitor if another scrape config collects partnergate" -}}
{{- end -}}
{{- end -}}

{{/* The tiers partnergate accepts: the values' or the chart's default. */}}
{{- define "partnergate.ratelimit" -}}
{{- if .Values.ratelimit.tiers -}}
{{- toYaml (dict "domain" .Values.ratelimit.domain "tiers" .Values.ratelimit.tiers "overrides" (.Values.ratelimit.overrides | default list)) -}}
{{- else -}}
{{- .Files.Get "files/ratelimit-tiers.yaml" | fromYaml | toYaml -}}
{{- end -}}
{{- end -}}
