{{- define "headwater.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "headwater.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "headwater.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "headwater.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "headwater.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "headwater.fullname" .) -}}
{{- end -}}

{{/* Environment of every Headwater container: plain settings and the Secret's keys. */}}
{{- define "headwater.env" -}}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
- name: HEADWATER_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "headwater.secretName" . }}
      key: {{ .Values.secrets.secretKeyKey }}
- name: HEADWATER_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "headwater.secretName" . }}
      key: {{ .Values.secrets.databaseUrlKey }}
- name: HEADWATER_CELERY_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "headwater.secretName" . }}
      key: {{ .Values.secrets.brokerUrlKey }}
- name: HEADWATER_METRICS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "headwater.secretName" . }}
      key: {{ .Values.secrets.metricsTokenKey }}
      optional: true
{{- end -}}

{{/* Pod-level settings shared by the three deployments. */}}
{{- define "headwater.podSpec" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: data
    emptyDir: {}
  - name: tmp
    emptyDir: {}
{{- end -}}

{{- define "headwater.mounts" -}}
- name: data
  mountPath: /var/lib/headwater
- name: tmp
  mountPath: /tmp
{{- end -}}
