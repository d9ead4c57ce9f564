module berth.test/nri-plugin

go 1.22

require github.com/containerd/nri v0.12.5
