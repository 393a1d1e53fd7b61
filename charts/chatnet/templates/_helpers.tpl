{{/* The chart's name, or nameOverride. */}}
{{- define "chatnet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: "<release>-chatnet", or just the release name
when it already contains the chart's name. */}}
{{- define "chatnet.fullname" -}}
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

{{- define "chatnet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chatnet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatnet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "chatnet.labels" -}}
helm.sh/chart: {{ include "chatnet.chart" . }}
{{ include "chatnet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chatnet
{{- end }}

{{- define "chatnet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chatnet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator's image; the nodes run the same one unless nodeImage is set. */}}
{{- define "chatnet.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "chatnet.nodeImage" -}}
{{- default (include "chatnet.image" .) .Values.nodeImage }}
{{- end }}

{{/* The operator pods' affinity: .Values.affinity, plus preferred
anti-affinity between replicas (other nodes, then other zones) unless it is
turned off or affinity sets its own podAntiAffinity. */}}
{{- define "chatnet.affinity" -}}
{{- $affinity := deepCopy .Values.affinity }}
{{- if and .Values.podAntiAffinity.enabled (not (hasKey $affinity "podAntiAffinity")) }}
{{- $selector := dict "matchLabels" (fromYaml (include "chatnet.selectorLabels" .)) }}
{{- $host := dict "weight" 100 "podAffinityTerm" (dict "labelSelector" $selector "topologyKey" "kubernetes.io/hostname") }}
{{- $zone := dict "weight" 50 "podAffinityTerm" (dict "labelSelector" $selector "topologyKey" "topology.kubernetes.io/zone") }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list $host $zone)) }}
{{- end }}
{{- toYaml $affinity }}
{{- end }}

{{/* Refuse values that cannot work, with the fix in the message. */}}
{{- define "chatnet.validate" -}}
{{- if and (not .Values.peering.enabled) (gt (int .Values.replicas) 1) }}
{{- fail "replicas > 1 needs peering.enabled=true: without peering, two operator replicas would both act on every object" }}
{{- end }}
{{- end }}

{{/* RBAC rules for the namespaces the operator manages: in a ClusterRole when
it watches every namespace, in a Role per namespace otherwise. Least
privilege, as docs/operator.md (RBAC) lists them: what the operator and
kopf request, and nothing else. tests/operator/test_chart_operator.py runs the
operator under exactly these rules and fails on a refused or an unused grant. */}}
{{- define "chatnet.namespacedRules" -}}
# The resources the operator serves: kopf lists, watches and patches them
# (finalizer, progress annotations); the operator GETs a network and LISTs the
# servers of its namespace.
- apiGroups: [chatnet.io]
  resources: [chatnetworks]
  verbs: [get, list, watch, patch]
- apiGroups: [chatnet.io]
  resources: [chatservers]
  verbs: [list, watch, patch]
# Status (counts, conditions) is merge-patched through the status subresource.
- apiGroups: [chatnet.io]
  resources: [chatnetworks/status, chatservers/status]
  verbs: [patch]
# Children carry ownerReferences with blockOwnerDeletion (admission checks this).
- apiGroups: [chatnet.io]
  resources: [chatnetworks/finalizers, chatservers/finalizers]
  verbs: [update]
# The children it renders: each is read by name, written by server-side
# apply (PATCH, and create when it is missing), listed by its labels to find
# the ones no longer wanted, which are deleted.
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, create, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, create, patch, delete]
# Secrets: the generated link and cloak Secrets, created once and never updated;
# the operator's own link CA and certificates (no cert-manager), renewed in place.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, create, patch, delete]
# One NetworkPolicy per network (spec.networkPolicy).
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, create, patch, delete]
# The CloudNativePG Cluster of history.cnpg: created and kept in step, never
# deleted (the history outlives the network).
- apiGroups: [postgresql.cnpg.io]
  resources: [clusters]
  verbs: [get, create, patch]
# The web chat's routes, the endpoint's certificate and the link CA (its
# Issuers and each server's Certificate); the servers' scrape
# targets and alerts. Kept in step, deleted when the spec no longer asks for
# them (owner references remove them with the network); the optional kinds
# only when their CRDs are served.
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, create, patch, delete]
- apiGroups: [cert-manager.io]
  resources: [certificates, issuers]
  verbs: [get, list, create, patch, delete]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, create, patch, delete]
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors, podmonitors, prometheusrules]
  verbs: [get, list, create, patch, delete]
# Events (kopf posts core v1 Events).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
