{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "herald.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "herald.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: herald
{{- end -}}

{{- define "herald.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "herald.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "herald.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Listeners a role opens (ops in every role), as the tls.* options name them. */}}
{{- define "herald.roleListeners" -}}
{{- $l := list "ops" -}}
{{- if eq .role "api" }}{{ $l = concat $l (list "grpc" "json_api") }}{{ end -}}
{{- if eq .role "web" }}{{ $l = append $l "http" }}{{ if .root.Values.inboundMail.enabled }}{{ $l = append $l "mail" }}{{ end }}{{ end -}}
{{- join "," $l -}}
{{- end -}}

{{/* "HTTPS" when the ops listener speaks TLS (a certificate, and ops not left to a proxy). */}}
{{- define "herald.opsScheme" -}}
{{- if and .Values.tls.existingSecret (not (has "ops" .Values.tls.plaintextListeners)) -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{/*
Refuse at render time what heraldd would refuse at start-up: every listener of the pods
listens on the pod address, so each needs TLS or an entry in tls.plaintextListeners.
*/}}
{{- define "herald.checks" -}}
{{- $v := .Values -}}
{{- if not $v.database.existingSecret -}}
{{- fail "database.existingSecret is required: the Secret holding the PostgreSQL password (or the whole URL with database.urlKey)" -}}
{{- end -}}
{{- if and (not $v.database.urlKey) (not $v.database.url) -}}
{{- fail "database.url (a connection string without password) or database.urlKey is required" -}}
{{- end -}}
{{- if not $v.keys.existingSecret -}}
{{- fail "keys.existingSecret is required: the Secret holding the suppression (and link) key rings" -}}
{{- end -}}
{{- if not $v.tls.existingSecret -}}
{{- range $l := list "grpc" "json_api" "http" "mail" "ops" -}}
{{- if not (has $l $v.tls.plaintextListeners) -}}
{{- fail (printf "tls.existingSecret is empty, so listener %q would listen on the pod address in clear: set tls.existingSecret, or add %q to tls.plaintextListeners if a proxy (a service mesh) terminates TLS for it" $l $l) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.tls.clientCaSecret (not $v.tls.existingSecret) -}}
{{- fail "tls.clientCaSecret needs tls.existingSecret (a client CA without a server certificate)" -}}
{{- end -}}
{{- if $v.tls.clientCaSecret -}}
{{- range $l := $v.tls.clientCertListeners -}}
{{- if has $l $v.tls.plaintextListeners -}}
{{- fail (printf "listener %q is in both tls.clientCertListeners and tls.plaintextListeners" $l) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.roles.api.grpcReadinessProbe $v.tls.existingSecret (not (has "grpc" $v.tls.plaintextListeners)) -}}
{{- fail "roles.api.grpcReadinessProbe: kubelet's gRPC probe speaks no TLS; the grpc listener does (leave the probe off, or put grpc in tls.plaintextListeners)" -}}
{{- end -}}
{{- if or $v.roles.web.grpcReadinessProbe $v.roles.worker.grpcReadinessProbe -}}
{{- fail "grpcReadinessProbe: only the api role serves gRPC" -}}
{{- end -}}
{{- if and $v.inboundMail.enabled (not $v.inboundMail.existingSecret) -}}
{{- fail "inboundMail.enabled needs inboundMail.existingSecret (HERALD_INBOUND_MAIL_SECRET)" -}}
{{- end -}}
{{- $providers := list -}}
{{- range $v.config.providers }}{{ if kindIs "map" . }}{{ $providers = append $providers (toString .name) }}{{ end }}{{ end -}}
{{- range $v.providerSecrets -}}
{{- if not (has .name $providers) -}}
{{- fail (printf "providerSecrets: %q is not a provider of config.providers; heraldd would refuse its variable HERALD_PROVIDER_..._SECRET as unknown" .name) -}}
{{- end -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.roles.web.enabled) -}}
{{- fail "ingress.enabled needs roles.web.enabled: the public pages and SMS hooks are the web role's" -}}
{{- end -}}
{{- end -}}

{{/* herald.yaml: the operator's config sections plus what the chart owns. */}}
{{- define "herald.config" -}}
{{- $v := .Values -}}
{{- $c := deepCopy $v.config -}}
{{- range $k, $val := $c -}}
{{- if or (eq (kindOf $val) "invalid") (and (kindIs "map" $val) (eq (len $val) 0)) (and (kindIs "slice" $val) (eq (len $val) 0)) (and (kindIs "string" $val) (eq $val "")) -}}
{{- $_ := unset $c $k -}}
{{- end -}}
{{- end -}}
{{- $db := merge (dict) (default (dict) $c.database) -}}
{{- if not $v.database.urlKey }}{{ $_ := set $db "url" $v.database.url }}{{ end -}}
{{- if $db }}{{ $_ := set $c "database" $db }}{{ end -}}
{{- $_ := set $c "grpc" (merge (dict "listen" "0.0.0.0:50051") (default (dict) $c.grpc)) -}}
{{- $_ := set $c "json_api" (merge (dict "listen" "0.0.0.0:8082") (default (dict) $c.json_api)) -}}
{{- $_ := set $c "http" (merge (dict "listen" "0.0.0.0:8080") (default (dict) $c.http)) -}}
{{- if $v.inboundMail.enabled }}{{ $_ := set $c "inbound_mail" (merge (dict "listen" "0.0.0.0:8081") (default (dict) $c.inbound_mail)) }}{{ end -}}
{{- $_ := set $c "ops" (merge (dict "listen" "0.0.0.0:9090") (default (dict) $c.ops)) -}}
{{- $_ := set $c "suppression_keys_file" (printf "/etc/herald/keys/%s" $v.keys.suppressionKey) -}}
{{- if $v.keys.linkKey }}{{ $_ := set $c "link_keys_file" (printf "/etc/herald/keys/%s" $v.keys.linkKey) }}{{ end -}}
{{- $tls := dict -}}
{{- if $v.tls.existingSecret -}}
{{- $_ := set $tls "cert_file" "/etc/herald/tls/tls.crt" -}}
{{- $_ := set $tls "key_file" "/etc/herald/tls/tls.key" -}}
{{- if $v.tls.clientCaSecret -}}
{{- $_ := set $tls "client_ca_file" (printf "/etc/herald/client-ca/%s" $v.tls.clientCaKey) -}}
{{- $_ := set $tls "client_cert_listeners" $v.tls.clientCertListeners -}}
{{- end -}}
{{- end -}}
{{- if $v.tls.plaintextListeners }}{{ $_ := set $tls "plaintext_listeners" $v.tls.plaintextListeners }}{{ end -}}
{{- if $tls }}{{ $_ := set $c "tls" $tls }}{{ end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* The database's secrets, by reference: all the migration Job gets. */}}
{{- define "herald.dbEnv" -}}
{{- $v := .Values -}}
{{- if $v.database.urlKey }}
- name: HERALD_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ $v.database.existingSecret | quote }}, key: {{ $v.database.urlKey | quote }}}}
{{- end }}
{{- if $v.database.passwordKey }}
- name: PGPASSWORD
  valueFrom: {secretKeyRef: {name: {{ $v.database.existingSecret | quote }}, key: {{ $v.database.passwordKey | quote }}}}
{{- end }}
{{- end -}}

{{/*
Every secret the serving pods get, by reference only. heraldd refuses a HERALD_* variable it
does not know, and a provider's variable is known only while config.providers names it: the
migration Job, which has no herald.yaml, gets herald.dbEnv alone.
*/}}
{{- define "herald.secretEnv" -}}
{{- $v := .Values -}}
{{ include "herald.dbEnv" . }}
{{- range $v.providerSecrets }}
- name: {{ printf "HERALD_PROVIDER_%s_SECRET" (.name | upper | replace "-" "_") }}
  valueFrom: {secretKeyRef: {name: {{ .existingSecret | quote }}, key: {{ .key | quote }}}}
{{- end }}
{{- if and $v.crm.existingSecret $v.crm.passwordKey }}
- name: HERALD_CRM_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $v.crm.existingSecret | quote }}, key: {{ $v.crm.passwordKey | quote }}}}
{{- end }}
{{- if and $v.crm.existingSecret $v.crm.clientSecretKey }}
- name: HERALD_CRM_CLIENT_SECRET
  valueFrom: {secretKeyRef: {name: {{ $v.crm.existingSecret | quote }}, key: {{ $v.crm.clientSecretKey | quote }}}}
{{- end }}
{{- if $v.metrics.tokenSecret }}
- name: HERALD_OPS_METRICS_TOKEN
  valueFrom: {secretKeyRef: {name: {{ $v.metrics.tokenSecret | quote }}, key: {{ $v.metrics.tokenKey | quote }}}}
{{- end }}
{{- end -}}

{{/* Secret volumes mounted whole (never subPath: kubelet would not update renewals). */}}
{{- define "herald.secretVolumes" -}}
{{- $v := .Values -}}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
- name: keys
  secret:
    secretName: {{ $v.keys.existingSecret | quote }}
    defaultMode: 0440
    items:
      - {key: {{ $v.keys.suppressionKey | quote }}, path: {{ $v.keys.suppressionKey | quote }}}
      {{- if $v.keys.linkKey }}
      - {key: {{ $v.keys.linkKey | quote }}, path: {{ $v.keys.linkKey | quote }}}
      {{- end }}
{{- if $v.database.caSecret }}
- name: pg-ca
  secret:
    secretName: {{ $v.database.caSecret | quote }}
    items: [{key: {{ $v.database.caKey | quote }}, path: ca.crt}]
{{- end }}
{{- if $v.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ $v.tls.existingSecret | quote }}
    defaultMode: 0440
    items: [{key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}]
{{- end }}
{{- if $v.tls.clientCaSecret }}
- name: client-ca
  secret:
    secretName: {{ $v.tls.clientCaSecret | quote }}
    items: [{key: {{ $v.tls.clientCaKey | quote }}, path: {{ $v.tls.clientCaKey | quote }}}]
{{- end }}
{{- end -}}

{{- define "herald.secretMounts" -}}
{{- $v := .Values -}}
- {name: tmp, mountPath: /tmp}
- {name: keys, mountPath: /etc/herald/keys, readOnly: true}
{{- if $v.database.caSecret }}
- {name: pg-ca, mountPath: /etc/herald/pg-ca, readOnly: true}
{{- end }}
{{- if $v.tls.existingSecret }}
- {name: tls, mountPath: /etc/herald/tls, readOnly: true}
{{- end }}
{{- if $v.tls.clientCaSecret }}
- {name: client-ca, mountPath: /etc/herald/client-ca, readOnly: true}
{{- end }}
{{- end -}}

{{- define "herald.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "herald.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}
