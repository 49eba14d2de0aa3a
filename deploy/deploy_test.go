// Package deploy_test checks the files people deploy with against the
// program they deploy: the image's name, port, user and state directory,
// the probe paths, and the environment variables the program reads.
package deploy_test

import (
	"bufio"
	"flag"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/pgtest"
	"uptime/internal/seal"
	"uptime/internal/secrets"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// image is what scripts/image builds and the Containerfile sets.
type image struct {
	name, entrypoint, user string
	env                    map[string]string
}

func readImage(t *testing.T) image {
	t.Helper()
	script, err := os.ReadFile("../scripts/image")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`image=\$\{IMAGE:-([^}]+)\}`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/image names no default image")
	}
	img := image{name: string(m[1]), env: map[string]string{}}
	for _, line := range containerfile(t) {
		instr, rest, _ := strings.Cut(line, " ")
		switch instr {
		case "USER":
			img.user = rest
		case "ENTRYPOINT":
			img.entrypoint = strings.Trim(strings.Split(rest, ",")[0], `[]" `)
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				img.env[k] = v
			}
		}
	}
	return img
}

// containerfile returns the Containerfile's instructions, continuation
// lines joined and comments left out.
func containerfile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur += strings.TrimSpace(more) + " "
			continue
		}
		out = append(out, cur+line)
		cur = ""
	}
	return out
}

// programEnv is every environment variable the program reads: each
// setting's, as config.Flags asks for them, and the secrets'.
func programEnv() map[string]bool {
	names := map[string]bool{}
	config.Flags(flag.NewFlagSet("uptime", flag.ContinueOnError), func(k string) string {
		names[k] = true
		return ""
	})
	names[secrets.EnvName("SlackWebhookURL")] = true
	names[secrets.EnvName(app.AdminPasswordSecret)] = true
	names[seal.EnvName] = true
	return names
}

func checkEnv(t *testing.T, where string, names ...string) {
	t.Helper()
	known := programEnv()
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s sets %s, which the program does not read", where, n)
		}
	}
}

// servedPaths starts the program and asks it for each path, expecting 200:
// what a probe in a deploy file calls must exist and answer.
func servedPaths(t *testing.T, paths ...string) {
	t.Helper()
	app := apptest.Start(t, apptest.Setup{})
	for _, p := range paths {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			status, body := app.Do(t, "GET", p, "")
			if status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("a probe calls %s, which answers %d %s", p, status, body)
				break
			}
		}
	}
}

func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestImageSettings(t *testing.T) {
	img := readImage(t)
	if img.name != "uptime:latest" {
		t.Errorf("scripts/image builds %q, want uptime:latest as the README and deploy files say", img.name)
	}
	if img.user == "" || strings.HasPrefix(img.user, "0:") || img.user == "root" {
		t.Errorf("the image runs as %q, want a non-root user", img.user)
	}
	if img.env["PORT"] != "8080" || img.env["UPTIME_STATE_DIR"] == "" {
		t.Errorf("the image's environment is %v, want PORT=8080 and a state directory", img.env)
	}
	checkEnv(t, "the Containerfile", slices.Collect(maps.Keys(img.env))...)
}

func TestCompose(t *testing.T) {
	img := readImage(t)
	var c struct {
		Services map[string]struct {
			Image       string
			Environment map[string]string
			DependsOn   map[string]struct{ Condition string } `json:"depends_on"`
			Healthcheck struct{ Test []string }
			Ports       []string
			Volumes     []string
		}
		Volumes map[string]any
	}
	readYAML(t, "compose.yaml", &c)
	pg, ok := c.Services["postgres"]
	if !ok || len(pg.Volumes) == 0 || !strings.HasPrefix(pg.Volumes[0], "pgdata:") || c.Volumes == nil {
		t.Errorf("compose.yaml: want a postgres service keeping its data in the pgdata volume, got %+v", pg)
	}
	var instances []string
	var probes []string
	for name, s := range c.Services {
		if name == "postgres" {
			continue
		}
		instances = append(instances, name)
		if s.Image != img.name {
			t.Errorf("compose.yaml: %s runs %q, want %q from make image", name, s.Image, img.name)
		}
		checkEnv(t, "compose.yaml's "+name, slices.Collect(maps.Keys(s.Environment))...)
		if !strings.Contains(s.Environment["DATABASE_URL"], "@postgres:5432/") || s.Environment["UPTIME_API_KEY"] == "" ||
			s.Environment[seal.EnvName] == "" {
			t.Errorf("compose.yaml: %s must reach the postgres service and share the API key and the secret key: %v", name, s.Environment)
		}
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("compose.yaml: %s does not wait for PostgreSQL to be healthy", name)
		}
		hc := s.Healthcheck.Test
		if len(hc) != 4 || hc[0] != "CMD" || hc[1] != img.entrypoint || hc[2] != "healthcheck" {
			t.Errorf("compose.yaml: %s's health check is %q, want [CMD %s healthcheck PATH]", name, hc, img.entrypoint)
		} else {
			probes = append(probes, hc[3])
		}
		if len(s.Ports) != 1 || !strings.HasSuffix(s.Ports[0], ":"+img.env["PORT"]) {
			t.Errorf("compose.yaml: %s publishes %v, want the image's port %s", name, s.Ports, img.env["PORT"])
		}
	}
	if len(instances) != 2 {
		t.Errorf("compose.yaml has instances %v, want two", instances)
	}
	servedPaths(t, probes...)
}

type k8sObject struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		Replicas     int
		MinAvailable int `json:"minAvailable"`
		Selector     struct {
			MatchLabels map[string]string `json:"matchLabels"`
		}
		// A Service's selector is the labels themselves.
		ServiceSelector map[string]string `json:"-"`
		Template        struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				SecurityContext struct {
					RunAsNonRoot bool `json:"runAsNonRoot"`
					RunAsUser    int  `json:"runAsUser"`
				} `json:"securityContext"`
				Containers []struct {
					Image string
					Ports []struct {
						Name          string
						ContainerPort int `json:"containerPort"`
					}
					Env     []struct{ Name string }
					EnvFrom []struct {
						SecretRef struct{ Name string } `json:"secretRef"`
					} `json:"envFrom"`
					ReadinessProbe *probe `json:"readinessProbe"`
					LivenessProbe  *probe `json:"livenessProbe"`
					VolumeMounts   []struct {
						MountPath string `json:"mountPath"`
					} `json:"volumeMounts"`
				}
			}
		}
		Ports []struct {
			TargetPort string `json:"targetPort"`
		}
	}
	StringData map[string]string `json:"stringData"`
}

type probe struct {
	HTTPGet struct {
		Path string
		Port string
	} `json:"httpGet"`
}

func TestKubernetes(t *testing.T) {
	img := readImage(t)
	var kust struct{ Resources []string }
	readYAML(t, "kubernetes/kustomization.yaml", &kust)
	objects := map[string]k8sObject{}
	selectors := map[string]map[string]string{}
	for _, r := range kust.Resources {
		var o k8sObject
		readYAML(t, "kubernetes/"+r, &o)
		objects[o.Kind] = o
		if o.Kind == "Service" {
			var s struct {
				Spec struct{ Selector map[string]string }
			}
			readYAML(t, "kubernetes/"+r, &s)
			selectors["Service"] = s.Spec.Selector
		}
	}
	for _, kind := range []string{"Deployment", "Service", "Secret", "PodDisruptionBudget"} {
		if _, ok := objects[kind]; !ok {
			t.Fatalf("deploy/kubernetes has no %s among %v", kind, kust.Resources)
		}
	}
	d := objects["Deployment"]
	if d.Spec.Replicas != 2 {
		t.Errorf("the Deployment has %d replicas, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template
	if sc := pod.Spec.SecurityContext; !sc.RunAsNonRoot || strconv.Itoa(sc.RunAsUser) != strings.Split(img.user, ":")[0] {
		t.Errorf("the pod's security context %+v does not run as the image's non-root user %s", sc, img.user)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("the pod has %d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if c.Image != img.name {
		t.Errorf("the Deployment runs %q, want %q from make image", c.Image, img.name)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 || img.env["PORT"] != "8080" {
		t.Errorf("the container's ports are %+v, want the image's port %s", c.Ports, img.env["PORT"])
	}
	if c.ReadinessProbe == nil || c.LivenessProbe == nil {
		t.Fatal("the container needs a readiness and a liveness probe")
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes on %s and %s, want /readyz and /healthz", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	for _, p := range []*probe{c.ReadinessProbe, c.LivenessProbe} {
		if p.HTTPGet.Port != c.Ports[0].Name {
			t.Errorf("a probe asks port %q, not the container's port %q", p.HTTPGet.Port, c.Ports[0].Name)
		}
	}
	var envNames []string
	for _, e := range c.Env {
		envNames = append(envNames, e.Name)
	}
	checkEnv(t, "the Deployment", envNames...)
	secret := objects["Secret"]
	checkEnv(t, "the Secret", slices.Collect(maps.Keys(secret.StringData))...)
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != secret.Metadata.Name {
		t.Errorf("the container does not read the Secret %q", secret.Metadata.Name)
	}
	for _, k := range []string{"DATABASE_URL", "UPTIME_API_KEY", seal.EnvName} {
		if secret.StringData[k] == "" {
			t.Errorf("the Secret has no %s", k)
		}
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m struct {
		MountPath string `json:"mountPath"`
	}) bool {
		return m.MountPath == img.env["UPTIME_STATE_DIR"]
	}) {
		t.Errorf("no volume is mounted on the state directory %s", img.env["UPTIME_STATE_DIR"])
	}
	labels := pod.Metadata.Labels
	for what, sel := range map[string]map[string]string{
		"the Deployment's selector": d.Spec.Selector.MatchLabels,
		"the Service's selector":    selectors["Service"],
		"the budget's selector":     objects["PodDisruptionBudget"].Spec.Selector.MatchLabels,
	} {
		if len(sel) == 0 {
			t.Errorf("%s is empty", what)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s %s=%s does not match the pods' labels %v", what, k, v, labels)
			}
		}
	}
	if pdb := objects["PodDisruptionBudget"]; pdb.Spec.MinAvailable < 1 || pdb.Spec.MinAvailable >= d.Spec.Replicas {
		t.Errorf("the budget keeps %d of %d available, want at least one and fewer than all", pdb.Spec.MinAvailable, d.Spec.Replicas)
	}
	if svc := objects["Service"]; len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != c.Ports[0].Name {
		t.Errorf("the Service targets %+v, not the container's port %q", svc.Spec.Ports, c.Ports[0].Name)
	}
	servedPaths(t, c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
}

func TestSystemdUnit(t *testing.T) {
	f, err := os.Open("uptime.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("uptime.service: %q is not key=value", line)
		}
		unit[section+"."+k] = append(unit[section+"."+k], v)
	}
	for k, want := range map[string]string{
		"Service.DynamicUser":     "yes",
		"Service.ProtectSystem":   "strict",
		"Service.StateDirectory":  "uptime",
		"Service.Restart":         "on-failure",
		"Service.NoNewPrivileges": "yes",
		"Service.KillSignal":      "SIGTERM",
		"Install.WantedBy":        "multi-user.target",
	} {
		if got := unit[k]; len(got) != 1 || got[0] != want {
			t.Errorf("uptime.service: %s = %v, want %s", k, got, want)
		}
	}
	exec := strings.Fields(strings.Join(unit["Service.ExecStart"], ""))
	if len(exec) != 2 || exec[1] != "run" {
		t.Errorf("uptime.service: ExecStart = %v, want the binary and run", exec)
	}
	var names []string
	for _, e := range unit["Service.Environment"] {
		k, v, _ := strings.Cut(e, "=")
		names = append(names, k)
		if k == "UPTIME_STATE_DIR" && v != "%S/uptime" {
			t.Errorf("uptime.service: the state directory %s is not systemd's StateDirectory (%%S/uptime)", v)
		}
	}
	checkEnv(t, "uptime.service", names...)
	if !slices.Contains(names, "UPTIME_STATE_DIR") {
		t.Error("uptime.service does not put the state directory in StateDirectory")
	}
}
