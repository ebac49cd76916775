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
# Pods: run the data-files-transfer pod, follow it, remove it on cleanup. Relabel the watching presync pod when
# the files step takes it over (patch).
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete, patch]
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
# Workloads: quiesce and resume patch replicas and annotations on the objects themselves.
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, list, watch, patch]
# The gateway (spec.files[].fallback): its Deployment and Service created and removed with fallback.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [create, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, create, delete]
# ConfigMaps: rebuild triggers bump one key; mysql-external writes spec.mysql.external.configRef; the ClickHouse copy's concurrency schedule created and patched.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, patch]
# Claims: with fileSync.shards, the transfer pods spread over nodes only when every claim they mount takes several nodes (get, its accessModes).
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get]
# Nodes: fileSync.shards auto runs one transfer pod per node that can take one (list).
- apiGroups: [""]
  resources: [nodes]
  verbs: [list]
# Secrets: credentials keys read (get); the mover token Secret created (create); patch for a
# spec.mysql.external.configRef that is a Secret key; update because a controller can grant no
# more than it holds: the config step's Role writes one Secret.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, update, patch, delete]
# The config step's own ServiceAccount, Role and RoleBinding, owned by the Migration (create; get
# to take an existing one only if this Migration owns it); the Role follows a changed
# spec.config.secretName (patch).
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [create, get]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings]
  verbs: [create, get]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles]
  verbs: [create, get, patch]
# Events: one per transition.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
