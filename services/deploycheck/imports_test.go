package deploycheck

import (
	_ "github.com/compose-spec/compose-go/v2/loader"
	_ "k8s.io/client-go/kubernetes/scheme"
	_ "sigs.k8s.io/kustomize/api/krusty"
)
