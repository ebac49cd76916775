{{- define "ferry.labels" -}}
app.kubernetes.io/name: ferry
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ferry.rules" -}}
# Migrations: watch them (get/list/watch); add and remove the cleanup finalizer (patch, update).
- apiGroups: [ferry.dev]
  resources: [migrations]
  verbs: [get, list, watch, patch, update]
# Migration status: the checkpoint and progress are written to the status subresource only.
- apiGroups: [ferry.dev]
  resources: [migrations/status]
  verbs: [get, patch, update]
# Pods: run the data-files-transfer pod, follow it, remove it on cleanup.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
# Job events: a step whose pod admission refused (PodSecurity, quota) is failed with the reason (list core Events of the Job).
- apiGroups: [""]
  resources: [events]
  verbs: [list]
# Pod logs: a running step's last progress line goes into status.steps[].progress (get).
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
# Jobs: each restore step runs as a Job.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
# Workloads: quiesce and resume.
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, list, watch, patch]
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale]
  verbs: [get, patch, update]
# ConfigMaps: rebuild triggers bump one key.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, patch]
# Secrets: validate checks that credentials Secrets exist (get); create/update/patch because a
# controller can grant no more than it holds: the config step's Role writes the one config Secret.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, update, patch]
# The config step's own ServiceAccount, Role and RoleBinding, owned by the Migration.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, create]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, create]
# Volume claims: validate checks the claims exist.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get]
# Events: one per transition.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
