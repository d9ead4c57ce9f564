// SPDX-License-Identifier: Apache-2.0
//
// berth-nri-test: an NRI plugin for berth's tests (tests/integration/nri.bats),
// built on NRI's own pkg/stub so it speaks the protocol exactly as real
// plugins do. It appends one line per event it sees to -log; at
// CreateContainer it adds an environment variable, an annotation and a
// read-only bind mount (-mount-src), or fails the creation (-fail-create);
// with the adjustment flags it also replaces the args (-args), sets
// RLIMIT_NOFILE (-nofile), adds a device node (-device PATH:MAJOR:MINOR),
// a createRuntime OCI hook (-hook), a memory limit (-memory) or removes a
// namespace (-remove-ns), adds a CDI device (-cdi), removes a mount
// (-unmount), and -no-env leaves out the variable and the
// annotation (two such plugins conflict on nothing else).
//
// Updates (docs/nri.md#updates): -update-shares N answers UpdateContainer
// with CPU shares N for the container being updated; -update-other
// NAME=N answers CreateContainer with CPU shares N for the container NAME
// (seen before); -unsolicited NAME=N sends UpdateContainers (shares N for
// NAME, and an update of a container that does not exist) once NAME has
// started, and logs what failed; -sync-update NAME=N answers Synchronize
// with CPU shares N for NAME. -events limits the events it subscribes
// to (NRI's names, comma-separated); PostCreate, PostStart, UpdateContainer
// and PostUpdate are logged like the others.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

type plugin struct {
	mu         sync.Mutex
	log        *os.File
	failCreate bool
	failRunPod bool
	mountSrc   string
	args       string
	nofile     uint64
	device     string
	hook       string
	memory     int64
	removeNs   string
	noEnv      bool
	cdi        string
	unmount    string

	stub         stub.Stub
	events       api.EventMask
	updateShares uint64
	otherName    string
	otherShares  uint64
	unsolName    string
	unsolShares  uint64
	syncName     string
	syncShares   uint64
	ids          map[string]string // container name -> id
}

// nameShares parses "NAME=N" (empty: none).
func nameShares(v string) (string, uint64) {
	name, n, ok := strings.Cut(v, "=")
	if !ok {
		return "", 0
	}
	shares, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad NAME=SHARES:", v)
		os.Exit(2)
	}
	return name, shares
}

func (p *plugin) remember(c *api.Container) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids[c.Name] = c.Id
}

func (p *plugin) idOf(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids[name]
}

func (p *plugin) note(format string, args ...interface{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.log, format+"\n", args...)
	p.log.Sync()
}

func (p *plugin) Configure(_ context.Context, config, runtime, version string) (api.EventMask, error) {
	// a pre-installed plugin gets no arguments: its configuration may name
	// the event log ("log=/path")
	if strings.HasPrefix(config, "log=") {
		path := strings.TrimSpace(strings.TrimPrefix(config, "log="))
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			p.mu.Lock()
			p.log = f
			p.mu.Unlock()
		}
	}
	p.note("configure runtime=%s version=%s config=%q", runtime, version, config)
	return p.events, nil
}

func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	p.note("synchronize pods=%d containers=%d", len(pods), len(ctrs))
	for _, pod := range pods {
		p.note("synchronize pod id=%s name=%s namespace=%s", pod.Id, pod.Name, pod.Namespace)
	}
	var updates []*api.ContainerUpdate
	for _, c := range ctrs {
		p.remember(c)
		p.note("synchronize container id=%s name=%s pod=%s", c.Id, c.Name, c.PodSandboxId)
		if p.syncName != "" && c.Name == p.syncName {
			u := &api.ContainerUpdate{}
			u.SetContainerId(c.Id)
			u.SetLinuxCPUShares(p.syncShares)
			updates = append(updates, u)
		}
	}
	return updates, nil
}

func (p *plugin) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.note("run-pod name=%s", pod.Name)
	if p.failRunPod {
		return fmt.Errorf("berth-nri-test refuses pod %s", pod.Name)
	}
	return nil
}

func (p *plugin) UpdatePodSandbox(_ context.Context, pod *api.PodSandbox, overhead, res *api.LinuxResources) error {
	p.note("update-pod name=%s shares=%d", pod.Name, res.GetCpu().GetShares().GetValue())
	return nil
}

func (p *plugin) PostUpdatePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.note("post-update-pod name=%s", pod.Name)
	return nil
}

func (p *plugin) StopPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.note("stop-pod name=%s", pod.Name)
	return nil
}

func (p *plugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.note("remove-pod name=%s", pod.Name)
	return nil
}

func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.note("create-container name=%s pod=%s", c.Name, pod.Name)
	p.remember(c)
	if p.failCreate {
		return nil, nil, fmt.Errorf("berth-nri-test refuses container %s", c.Name)
	}
	adj := &api.ContainerAdjustment{}
	if !p.noEnv {
		adj.AddEnv("BERTH_NRI_TEST", "injected")
		adj.AddAnnotation("berth.test/nri", "seen")
	}
	if p.mountSrc != "" {
		adj.AddMount(&api.Mount{
			Source:      p.mountSrc,
			Destination: "/nri-mount",
			Type:        "bind",
			Options:     []string{"bind", "ro"},
		})
	}
	if p.args != "" {
		adj.SetArgs(strings.Fields(p.args))
	}
	if p.nofile != 0 {
		adj.AddRlimit("RLIMIT_NOFILE", p.nofile, p.nofile)
	}
	if p.device != "" {
		var path string
		var major, minor int64
		f := strings.Split(p.device, ":")
		if len(f) != 3 {
			return nil, nil, fmt.Errorf("-device %q: want PATH:MAJOR:MINOR", p.device)
		}
		path = f[0]
		fmt.Sscan(f[1], &major)
		fmt.Sscan(f[2], &minor)
		adj.AddDevice(&api.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor,
			FileMode: api.FileMode(0o666)})
	}
	if p.hook != "" {
		adj.AddHooks(&api.Hooks{CreateRuntime: []*api.Hook{{Path: p.hook,
			Args: []string{p.hook, c.Name}}}})
	}
	if p.memory != 0 {
		adj.SetLinuxMemoryLimit(p.memory)
	}
	if p.cdi != "" {
		adj.AddCDIDevice(&api.CDIDevice{Name: p.cdi})
	}
	if p.unmount != "" {
		adj.RemoveMount(p.unmount)
	}
	if p.removeNs != "" {
		adj.RemoveNamespace(&api.LinuxNamespace{Type: p.removeNs})
	}
	var updates []*api.ContainerUpdate
	if p.otherName != "" {
		if id := p.idOf(p.otherName); id != "" && p.otherName != c.Name {
			u := &api.ContainerUpdate{}
			u.SetContainerId(id)
			u.SetLinuxCPUShares(p.otherShares)
			updates = append(updates, u)
			p.note("update-other name=%s shares=%d", p.otherName, p.otherShares)
		}
	}
	return adj, updates, nil
}

func (p *plugin) PostCreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.note("post-create-container name=%s", c.Name)
	return nil
}

func (p *plugin) PostStartContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.note("post-start-container name=%s", c.Name)
	if p.unsolName != "" && c.Name == p.unsolName {
		go p.unsolicited(c.Id)
	}
	return nil
}

// unsolicited sends UpdateContainers on its own connection, as a resource
// manager rebalancing does: one real container, one that does not exist.
func (p *plugin) unsolicited(id string) {
	time.Sleep(200 * time.Millisecond)
	u := &api.ContainerUpdate{}
	u.SetContainerId(id)
	u.SetLinuxCPUShares(p.unsolShares)
	gone := &api.ContainerUpdate{}
	gone.SetContainerId("0000000000000000000000000000000000000000000000000000000000000000")
	gone.SetLinuxCPUShares(p.unsolShares)
	failed, err := p.stub.UpdateContainers([]*api.ContainerUpdate{u, gone})
	ids := []string{}
	for _, f := range failed {
		ids = append(ids, f.ContainerId)
	}
	p.note("unsolicited shares=%d failed=%d err=%v failed-ids=%s", p.unsolShares, len(failed), err,
		strings.Join(ids, ","))
}

func (p *plugin) UpdateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container, r *api.LinuxResources) ([]*api.ContainerUpdate, error) {
	mem := int64(0)
	if r.GetMemory().GetLimit() != nil {
		mem = r.GetMemory().GetLimit().GetValue()
	}
	p.note("update-container name=%s memory=%d", c.Name, mem)
	if p.updateShares == 0 {
		return nil, nil
	}
	u := &api.ContainerUpdate{}
	u.SetContainerId(c.Id)
	u.SetLinuxCPUShares(p.updateShares)
	return []*api.ContainerUpdate{u}, nil
}

func (p *plugin) PostUpdateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.note("post-update-container name=%s", c.Name)
	return nil
}

func (p *plugin) StartContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.note("start-container name=%s", c.Name)
	return nil
}

func (p *plugin) StopContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) ([]*api.ContainerUpdate, error) {
	p.note("stop-container name=%s", c.Name)
	return nil, nil
}

func (p *plugin) RemoveContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.note("remove-container name=%s", c.Name)
	return nil
}

func main() {
	var (
		name       = flag.String("name", "berth-test", "plugin name")
		idx        = flag.String("idx", "10", "plugin index (two digits)")
		socket     = flag.String("socket", "", "NRI socket (default: NRI's)")
		logPath    = flag.String("log", "/dev/stderr", "event log")
		failCreate = flag.Bool("fail-create", false, "fail every CreateContainer")
		failRunPod = flag.Bool("fail-run-pod", false, "fail every RunPodSandbox")
		mountSrc   = flag.String("mount-src", "", "host directory to bind at /nri-mount")
		shares     = flag.Uint64("update-shares", 0, "CPU shares set at UpdateContainer")
		other      = flag.String("update-other", "", "NAME=SHARES: update NAME at CreateContainer")
		unsol      = flag.String("unsolicited", "", "NAME=SHARES: UpdateContainers once NAME started")
		events     = flag.String("events", "", "the events to subscribe to (default: all)")
		syncUpd    = flag.String("sync-update", "", "NAME=SHARES: update NAME at Synchronize")
		args       = flag.String("args", "", "replace the container's args (space separated)")
		nofile     = flag.Uint64("nofile", 0, "set RLIMIT_NOFILE (hard and soft)")
		device     = flag.String("device", "", "add a char device PATH:MAJOR:MINOR")
		hook       = flag.String("hook", "", "add a createRuntime hook (an absolute path)")
		memory     = flag.Int64("memory", 0, "set the memory limit (bytes)")
		removeNs   = flag.String("remove-ns", "", "remove this namespace (network, ipc...)")
		noEnv      = flag.Bool("no-env", false, "no environment variable nor annotation")
		cdi        = flag.String("cdi", "", "add this CDI device (vendor/class=name)")
		unmount    = flag.String("unmount", "", "remove the mount at this container path")
	)
	flag.Parse()
	f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p := &plugin{log: f, failCreate: *failCreate, failRunPod: *failRunPod, mountSrc: *mountSrc,
		updateShares: *shares, ids: map[string]string{},
		args: *args, nofile: *nofile, device: *device, hook: *hook, memory: *memory,
		removeNs: *removeNs, noEnv: *noEnv, cdi: *cdi, unmount: *unmount}
	p.otherName, p.otherShares = nameShares(*other)
	p.unsolName, p.unsolShares = nameShares(*unsol)
	p.syncName, p.syncShares = nameShares(*syncUpd)
	if *events != "" {
		if p.events, err = api.ParseEventMask(*events); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	opts := []stub.Option{stub.WithOnClose(func() { p.note("closed"); os.Exit(0) })}
	// a pre-installed plugin is started with its name and index in argv[0]
	// and a connected socket in NRI_PLUGIN_SOCKET: the stub reads both itself
	if os.Getenv("NRI_PLUGIN_SOCKET") == "" {
		opts = append(opts, stub.WithPluginName(*name), stub.WithPluginIdx(*idx))
		if *socket != "" {
			opts = append(opts, stub.WithSocketPath(*socket))
		}
	}
	s, err := stub.New(p, opts...)
	if err != nil {
		p.note("stub: %v", err)
		os.Exit(1)
	}
	p.stub = s
	if err := s.Run(context.Background()); err != nil {
		p.note("run: %v", err)
		os.Exit(1)
	}
}
