{{- define "livegate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "livegate.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "livegate.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "livegate.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "livegate.secretName" -}}
{{- if .Values.secrets.create -}}{{ include "livegate.fullname" . }}{{- else -}}{{ required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret }}{{- end -}}
{{- end -}}

{{- define "livegate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ .Values.serviceAccount.name | default (include "livegate.fullname" .) }}{{- else -}}{{ .Values.serviceAccount.name | default "default" }}{{- end -}}
{{- end -}}

{{/* The settings every LiveGate process of the release shares (README "Configuration"). */}}
{{- define "livegate.env" -}}
- name: LIVEGATE_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
- name: LIVEGATE_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: LIVEGATE_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
{{- if .Values.kafka.minInsyncReplicas }}
- name: LIVEGATE_MIN_INSYNC_REPLICAS
  value: {{ .Values.kafka.minInsyncReplicas | quote }}
{{- end }}
- name: LIVEGATE_APP_ID
  value: {{ .Values.appId | quote }}
- name: LIVEGATE_REDIS_PREFIX
  value: {{ .Values.redis.prefix | quote }}
- name: LIVEGATE_POLICY
  value: /etc/livegate/policy/policy.yaml
- name: LIVEGATE_LOG_FORMAT
  value: json
- name: LIVEGATE_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- name: LIVEGATE_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.saslMechanism | quote }}
- name: LIVEGATE_KAFKA_SASL_USERNAME
  value: {{ required "kafka.saslUsername is required with SASL" .Values.kafka.saslUsername | quote }}
- name: LIVEGATE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "livegate.secretName" . }}, key: kafka-sasl-password}
{{- end }}
{{- if .Values.kafka.caConfigMap }}
- name: LIVEGATE_KAFKA_SSL_CAFILE
  value: /etc/livegate/kafka-ca/ca.pem
{{- end }}
- name: LIVEGATE_REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ include "livegate.secretName" . }}, key: redis-url}
- name: LIVEGATE_WEB_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "livegate.secretName" . }}, key: web-token, optional: true}
{{- end -}}

{{- define "livegate.volumes" -}}
- name: policy
  configMap:
    name: {{ include "livegate.fullname" . }}-policy
- name: tmp
  emptyDir: {}
{{- if .Values.kafka.caConfigMap }}
- name: kafka-ca
  configMap:
    name: {{ .Values.kafka.caConfigMap }}
{{- end }}
{{- end -}}

{{- define "livegate.volumeMounts" -}}
- name: policy
  mountPath: /etc/livegate/policy
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.caConfigMap }}
- name: kafka-ca
  mountPath: /etc/livegate/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "livegate.checks" -}}
{{- if gt (int .Values.worker.replicas) (int .Values.kafka.partitions) -}}
{{- fail (printf "worker.replicas (%d) is more than kafka.partitions (%d): the extra workers would only be spares" (int .Values.worker.replicas) (int .Values.kafka.partitions)) -}}
{{- end -}}
{{- if and .Values.kafka.minInsyncReplicas (gt (int .Values.kafka.minInsyncReplicas) (int .Values.kafka.replicationFactor)) -}}
{{- fail "kafka.minInsyncReplicas is more than kafka.replicationFactor: no write could succeed" -}}
{{- end -}}
{{- end -}}
