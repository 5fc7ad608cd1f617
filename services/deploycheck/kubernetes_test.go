package deploycheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Schema validation: every object kustomize produces is decoded into the
// Kubernetes API's Go types in strict mode, so an unknown field, a field of
// the wrong type or a duplicate field fails. kubeconform would check the
// same against the OpenAPI schemas, but it downloads them, and the tests run
// offline; the API types of k8s.io/api are what those schemas are made from.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// buildOverlay runs kustomize (as `kubectl apply -k` would, with the default
// load restrictions) on an overlay and decodes every object strictly.
func buildOverlay(t *testing.T, dir string) []runtime.Object {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []runtime.Object
	for _, r := range m.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := strictDecoder.Decode(data, nil, nil)
		if err != nil {
			t.Errorf("%s %s does not validate: %v", r.GetKind(), r.GetName(), err)
			continue
		}
		objs = append(objs, obj)
	}
	return objs
}

func TestStrictDecoderRejectsUnknownFields(t *testing.T) {
	bad := []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  prots: []\n")
	if _, _, err := strictDecoder.Decode(bad, nil, nil); err == nil {
		t.Fatal("a Service with spec.prots decoded: the validation is not strict")
	}
	wrongType := []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports: 80\n")
	if _, _, err := strictDecoder.Decode(wrongType, nil, nil); err == nil {
		t.Fatal("a Service with ports: 80 decoded: the validation does not check types")
	}
}

// example is the built example overlay, by kind.
type example struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	ingresses   []*networkingv1.Ingress
}

func buildExample(t *testing.T) example {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deployments", "kubernetes", "overlays", "example")
	ex := example{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
	}
	for _, obj := range buildOverlay(t, dir) {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			ex.deployments[o.Name] = o
		case *corev1.Service:
			ex.services[o.Name] = o
		case *corev1.ConfigMap:
			ex.configMaps[o.Name] = o
		case *corev1.Secret:
			ex.secrets[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			ex.pdbs = append(ex.pdbs, o)
		case *networkingv1.Ingress:
			ex.ingresses = append(ex.ingresses, o)
		}
		if ns := obj.(interface{ GetNamespace() string }).GetNamespace(); ns != "signoff" {
			if _, isNS := obj.(*corev1.Namespace); !isNS {
				t.Errorf("%T in namespace %q, want signoff", obj, ns)
			}
		}
	}
	return ex
}

// probe names what a probe must check.
type probe struct{ path, port string }

func checkProbe(t *testing.T, where string, p *corev1.Probe, want probe) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no httpGet probe", where)
		return
	}
	if p.HTTPGet.Path != want.path || p.HTTPGet.Port.String() != want.port {
		t.Errorf("%s: probes %s on %s, want %s on %s", where, p.HTTPGet.Path, p.HTTPGet.Port.String(), want.path, want.port)
	}
}

func TestKubernetesDeployments(t *testing.T) {
	ex := buildExample(t)
	for _, tc := range []struct {
		name               string
		port               string
		readiness, startup *probe
	}{
		{name: "signoff-front", port: "http", readiness: &probe{"/readyz", "http"}, startup: &probe{"/healthz", "http"}},
		{name: "signoff-backchannel", port: "metrics", readiness: &probe{"/readyz", "metrics"}},
		{name: "signoff-webhook", port: "metrics", readiness: &probe{"/readyz", "metrics"}},
		{name: "signoff-events", port: "metrics", readiness: &probe{"/readyz", "metrics"}},
	} {
		d, ok := ex.deployments[tc.name]
		if !ok {
			t.Errorf("no Deployment %s", tc.name)
			continue
		}
		pod := d.Spec.Template.Spec
		if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot is not true", tc.name)
		}
		if len(pod.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", tc.name, len(pod.Containers))
			continue
		}
		c := pod.Containers[0]
		where := tc.name + "/" + c.Name
		hasPort := false
		for _, p := range c.Ports {
			hasPort = hasPort || p.Name == tc.port
		}
		if !hasPort {
			t.Errorf("%s: no container port named %s", where, tc.port)
		}
		checkProbe(t, where+" readiness", c.ReadinessProbe, *tc.readiness)
		checkProbe(t, where+" liveness", c.LivenessProbe, probe{"/healthz", tc.port})
		if tc.startup != nil {
			checkProbe(t, where+" startup", c.StartupProbe, *tc.startup)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				t.Errorf("%s: no %s request", where, res)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s: no memory limit", where)
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
			t.Errorf("%s: runAsNonRoot is not true", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		}
		if !strings.HasPrefix(c.Image, "signoff/") {
			t.Errorf("%s: image %q", where, c.Image)
		}
		// Every ConfigMap and Secret the pod uses is in the build, under
		// its generated name; the signing keys only where something signs.
		mountsKeys := false
		for _, v := range pod.Volumes {
			mountsKeys = mountsKeys || v.Secret != nil && strings.HasPrefix(v.Secret.SecretName, "signoff-keys")
			switch {
			case v.ConfigMap != nil && ex.configMaps[v.ConfigMap.Name] == nil:
				t.Errorf("%s: volume %s uses missing ConfigMap %s", where, v.Name, v.ConfigMap.Name)
			case v.Secret != nil && ex.secrets[v.Secret.SecretName] == nil:
				t.Errorf("%s: volume %s uses missing Secret %s", where, v.Name, v.Secret.SecretName)
			}
		}
		if want := signs(c.Image); mountsKeys != want {
			t.Errorf("%s: mounts the signing keys (Secret signoff-keys): %v, want %v", where, mountsKeys, want)
		}
		for _, e := range c.Env {
			if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
				s := ex.secrets[r.SecretKeyRef.Name]
				if s == nil || s.Data[r.SecretKeyRef.Key] == nil {
					t.Errorf("%s: env %s uses missing secret key %s/%s", where, e.Name, r.SecretKeyRef.Name, r.SecretKeyRef.Key)
				}
			}
		}
	}
}

func TestKubernetesFrontExposure(t *testing.T) {
	ex := buildExample(t)
	front := ex.deployments["signoff-front"]
	if front == nil {
		t.Fatal("no Deployment signoff-front")
	}
	labels := front.Spec.Template.Labels
	matches := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	svc := ex.services["signoff-front"]
	if svc == nil || !matches(svc.Spec.Selector) {
		t.Fatal("no Service signoff-front selecting the front's pods")
	}
	if len(ex.pdbs) == 0 {
		t.Error("no PodDisruptionBudget")
	}
	for _, pdb := range ex.pdbs {
		if pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels) {
			t.Errorf("PodDisruptionBudget %s does not select the front's pods", pdb.Name)
		}
	}
	if len(ex.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(ex.ingresses))
	}
	ing := ex.ingresses[0]
	if len(ing.Spec.Rules) == 0 || ing.Spec.Rules[0].HTTP == nil || len(ing.Spec.Rules[0].HTTP.Paths) == 0 {
		t.Fatal("Ingress has no HTTP rule")
	}
	if b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service; b == nil || b.Name != svc.Name {
		t.Errorf("Ingress backend %+v, want Service %s", b, svc.Name)
	}
	if ing.Spec.Rules[0].Host != "login.example.com" || len(ing.Spec.TLS) == 0 {
		t.Errorf("Ingress host %q, TLS %v: the example serves https://login.example.com", ing.Spec.Rules[0].Host, ing.Spec.TLS)
	}
}

// TestKubernetesConfig loads the ConfigMap's signoff.yaml with signoff's own
// loader, with the environment and the key files the front's pod gets.
func TestKubernetesConfig(t *testing.T) {
	ex := buildExample(t)
	front := ex.deployments["signoff-front"]
	if front == nil {
		t.Fatal("no Deployment signoff-front")
	}
	dir := t.TempDir()
	pod := front.Spec.Template.Spec
	c := pod.Containers[0]
	// Materialize the pod's ConfigMap and Secret volumes on disk.
	var mounts []mount
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != vm.Name {
				continue
			}
			var files map[string][]byte
			switch {
			case v.ConfigMap != nil:
				cm := ex.configMaps[v.ConfigMap.Name]
				if cm == nil {
					t.Fatalf("missing ConfigMap %s", v.ConfigMap.Name)
				}
				files = map[string][]byte{}
				for k, s := range cm.Data {
					files[k] = []byte(s)
				}
			case v.Secret != nil:
				s := ex.secrets[v.Secret.SecretName]
				if s == nil {
					t.Fatalf("missing Secret %s", v.Secret.SecretName)
				}
				files = s.Data
			default:
				continue
			}
			vdir := filepath.Join(dir, v.Name)
			if err := os.MkdirAll(vdir, 0o700); err != nil {
				t.Fatal(err)
			}
			for k, data := range files {
				if err := os.WriteFile(filepath.Join(vdir, k), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			src := vdir
			if vm.SubPath != "" {
				src = filepath.Join(vdir, vm.SubPath)
			}
			mounts = append(mounts, mount{target: vm.MountPath, source: src})
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch r := e.ValueFrom; {
		case r == nil:
			env[e.Name] = e.Value
		case r.SecretKeyRef != nil:
			if s := ex.secrets[r.SecretKeyRef.Name]; s != nil {
				env[e.Name] = string(s.Data[r.SecretKeyRef.Key])
			}
		}
	}
	path, ok := resolve(mounts, env["SIGNOFF_CONFIG"])
	if !ok {
		t.Fatalf("SIGNOFF_CONFIG %q is not mounted", env["SIGNOFF_CONFIG"])
	}
	cfg := loadSignoffConfig(t, path, env, mounts, true) // the front's
	if cfg == nil {
		return
	}
	if cfg.API.Token == "" {
		t.Error("api.token is empty: SIGNOFF_API_TOKEN from Secret signoff-api is not set")
	}
	if cfg.NATS.URL == "" {
		t.Error("nats.url is empty: the fronts would each embed their own NATS")
	}
	if !strings.HasSuffix(cfg.Listen, ":8080") || strings.HasPrefix(cfg.Listen, "127.") {
		t.Errorf("listen %q: the kubelet and the Service reach the front on <any>:8080", cfg.Listen)
	}
	if cfg.NATS.Replicas != natsValues(t).Config.Cluster.Replicas {
		t.Errorf("nats.replicas %d, but the NATS cluster has %d servers", cfg.NATS.Replicas, natsValues(t).Config.Cluster.Replicas)
	}
}

// helmValues is the part of deployments/helm/nats-values.yaml that signoff
// relies on, in the layout of the official NATS chart (1.x).
type helmValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `yaml:"enabled"`
			Replicas int  `yaml:"replicas"`
		} `yaml:"cluster"`
		JetStream struct {
			Enabled   bool `yaml:"enabled"`
			FileStore struct {
				Enabled bool `yaml:"enabled"`
				PVC     struct {
					Enabled bool   `yaml:"enabled"`
					Size    string `yaml:"size"`
				} `yaml:"pvc"`
			} `yaml:"fileStore"`
		} `yaml:"jetstream"`
	} `yaml:"config"`
}

func natsValues(t *testing.T) helmValues {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deployments", "helm", "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v helmValues
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("nats-values.yaml: %v", err)
	}
	return v
}

func TestHelmNATSValues(t *testing.T) {
	v := natsValues(t)
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 {
		t.Errorf("config.cluster: enabled %v, replicas %d; want a 3-server cluster", c.Cluster.Enabled, c.Cluster.Replicas)
	}
	if !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled || !c.JetStream.FileStore.PVC.Enabled || c.JetStream.FileStore.PVC.Size == "" {
		t.Errorf("config.jetstream: %+v; want JetStream with file storage on a PVC", c.JetStream)
	}
}
