{{/* Resource names: the release name if it contains the chart's, else <release>-agent-rrm. */}}
{{- define "agent-rrm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agent-rrm.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The judge pods: what the Deployment, Service, PodDisruptionBudget and topology spread select. */}}
{{- define "agent-rrm.selectorLabels" -}}
{{ include "agent-rrm.labels" . }}
app.kubernetes.io/component: judge
{{- end -}}

{{- define "agent-rrm.apiKeysSecret" -}}
{{- .Values.apiKeys.secretName | default (printf "%s-api-keys" (include "agent-rrm.fullname" .)) -}}
{{- end -}}

{{- define "agent-rrm.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-models" (include "agent-rrm.fullname" .)) -}}
{{- end -}}
