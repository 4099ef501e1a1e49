{{/*
Names and labels of the sample chart. Argo CD installs it with the Application name (the service
name) as the release name, so the objects are called after the service.
*/}}
{{- define "sample.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sample.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "sample.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sample.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sample.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sample.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Image reference: by digest when promote recorded one (immutable), else by tag.
*/}}
{{- define "sample.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}
{{- end }}

{{/*
Name of the blue/green preview Service: the fullname, shortened so "-preview" fits in 63.
*/}}
{{- define "sample.previewName" -}}
{{- printf "%s-preview" (include "sample.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/*
The pod template, the same for the Deployment (strategy.type rolling) and the Rollout.
*/}}
{{- define "sample.podTemplate" -}}
metadata:
  annotations:
    # A tag can be longer than a label value may be, so it is an annotation.
    delivery-pipeline/image-tag: {{ .Values.image.tag | quote }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "sample.selectorLabels" . | nindent 4 }}
spec:
  containers:
    - name: {{ .Chart.Name }}
      image: {{ include "sample.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      ports:
        - name: http
          containerPort: {{ .Values.containerPort }}
          protocol: TCP
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
