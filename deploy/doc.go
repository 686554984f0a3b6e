// Package deploy holds no code: it is the module of the deployment files
// (the Dockerfile, the Cloud Pak for Security connection form, the
// Kubernetes CronJob, the systemd units and the build scripts) so that
// their test can decode the manifests into the Kubernetes API types
// without the SDK's module depending on Kubernetes.
package deploy
