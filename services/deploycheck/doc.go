// Package deploycheck holds no product code: its tests check the
// deployment files (docker-compose.yml, deployments/) with the real loaders
// that docker compose and kustomize use, since no container engine runs
// where the tests do.
package deploycheck
