{{/* tokend.name is the chart's name, or nameOverride. */}}
{{- define "tokend.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
tokend.fullname names the chart's objects: fullnameOverride, or the release name when it
holds the chart's name, or RELEASE-tokend.
*/}}
{{- define "tokend.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* tokend.selectorLabels select the chart's pods (never change them on upgrade). */}}
{{- define "tokend.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokend.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* tokend.labels go on every object. */}}
{{- define "tokend.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tokend.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: token-server
{{- end }}

{{/* tokend.serviceAccountName is the pods' service account: Vault's JWT role binds it. */}}
{{- define "tokend.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tokend.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* tokend.image is repository@digest, or repository:tag (the appVersion by default). */}}
{{- define "tokend.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* tokend.scheme is HTTPS when tokend serves TLS itself. */}}
{{- define "tokend.scheme" -}}
{{- if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* tokend.jwtDir is where the projected service-account token for Vault is mounted. */}}
{{- define "tokend.jwtDir" -}}/var/run/secrets/vault{{- end }}
