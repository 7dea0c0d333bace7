package api

import (
	"net"
	"slices"
)

// InstanceFilter selects instances; every non-empty field must match exactly
// (ANDed), as the seed's list endpoint does. Tags adds more tags that must
// all be present (?tag=a&tag=b), beside Tag.
type InstanceFilter struct {
	ID           string
	Slug         string
	Host         string
	IP           string
	DeploymentID string
	NodeURL      string
	Path         string
	Scheme       string
	Tag          string
	Tags         []string
	Status       string
	// Meta keeps instances whose meta holds every one of these pairs.
	Meta map[string]string
}

// Match reports whether in passes every set field of the filter. Host also
// matches an instance whose URL names that IP: a URL's host is stored as IP
// when it is an address, but users ask ?host= for either.
func (f InstanceFilter) Match(in *Instance) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	host := eq(f.Host, in.Host) || (f.hostIsIP() && f.Host == in.IP)
	return eq(f.ID, in.ID) && eq(f.Slug, in.Slug) && host && eq(f.IP, in.IP) &&
		eq(f.DeploymentID, in.DeploymentID) && eq(f.NodeURL, in.NodeURL) && eq(f.Path, in.Path) &&
		eq(f.Scheme, in.Scheme) && eq(f.Status, string(in.Status)) &&
		(f.Tag == "" || slices.Contains(in.Tags, f.Tag)) && hasAll(in.Tags, f.Tags) && hasMeta(in.Meta, f.Meta)
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func (f InstanceFilter) hostIsIP() bool { return net.ParseIP(f.Host) != nil }

func hasMeta(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
