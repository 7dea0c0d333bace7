package httpapi

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

var instanceFilters = []string{"id", "slug", "host", "ip", "deploymentId", "nodeUrl", "path", "scheme", "tag", "status"}

// instanceParams are the query parameters of a list of instances, besides
// its meta.KEY filters.
var instanceParams = append(slices.Clone(instanceFilters), readParams...)

// instancesKey is a list's key in the answer cache: every field of the
// filter, each quoted, so that no two filters share a key.
func instancesKey(f *api.InstanceFilter) string {
	b := make([]byte, 0, 64)
	b = append(b, "instances"...)
	for _, v := range []string{f.ID, f.Slug, f.Host, f.IP, f.DeploymentID, f.NodeURL, f.Path, f.Scheme, f.Tag, f.Status} {
		b = append(b, ' ')
		b = strconv.AppendQuote(b, v)
	}
	b = append(b, " tags"...)
	for _, t := range f.Tags {
		b = append(b, ' ')
		b = strconv.AppendQuote(b, t)
	}
	b = append(b, " meta"...)
	for _, k := range slices.Sorted(maps.Keys(f.Meta)) {
		b = append(b, ' ')
		b = strconv.AppendQuote(b, k)
		b = append(b, '=')
		b = strconv.AppendQuote(b, f.Meta[k])
	}
	return string(b)
}

func (s *Server) listInstances(c *gin.Context) {
	// The query is parsed once here: every read of a list went through
	// url.ParseQuery three times and built its cache key by reflection,
	// ~8% of a follower's CPU under 64 readers.
	q := c.Request.URL.Query()
	meta, err := metaFilters(q)
	if err != nil {
		s.writeError(c, err)
		return
	}
	known := instanceParams
	if len(meta.params) > 0 {
		known = append(slices.Clone(instanceParams), slices.Sorted(maps.Keys(meta.params))...)
	}
	if err := checkParams(q, known); err != nil {
		s.writeError(c, err)
		return
	}
	// Every tag given must be present; any other filter takes one value,
	// and a repeat is refused rather than silently cut to its first value.
	for _, name := range instanceFilters {
		if vs := q[name]; len(vs) > 1 && name != "tag" {
			s.writeError(c, api.Invalid(name, "given %d times; only tag may repeat (every tag must match), other filters take one value", len(vs)))
			return
		}
	}
	// Each tag is matched against every row read and is part of the list
	// cache's key: as many as an instance may carry, and no longer.
	tags := q["tag"]
	if len(tags) > api.MaxTags {
		s.writeError(c, api.Invalid("tag", "given %d times; at most %d tags can match", len(tags), api.MaxTags))
		return
	}
	for _, t := range tags {
		if len(t) > api.MaxTagLen {
			s.writeError(c, api.Invalid("tag", "is %d characters, the limit is %d", len(t), api.MaxTagLen))
			return
		}
	}
	f := api.InstanceFilter{
		ID: q.Get("id"), Slug: q.Get("slug"), Host: q.Get("host"), IP: q.Get("ip"),
		DeploymentID: q.Get("deploymentId"), NodeURL: q.Get("nodeUrl"), Path: q.Get("path"),
		Scheme: q.Get("scheme"), Tags: tags, Status: q.Get("status"), Meta: meta.pairs,
	}
	if f.Status != "" && !api.Status(f.Status).Valid() {
		s.writeError(c, api.Invalid("status", "%q is not one of %v", f.Status, api.Statuses))
		return
	}
	// A token bound to a slug lists that slug's instances only.
	if scope := viewScope(c); scope != "" {
		if f.Slug != "" && f.Slug != scope {
			s.writeError(c, api.Denied(api.PermInstanceViewAll, "the token is bound to slug %q; seeing other slugs takes %s", scope, api.PermInstanceViewAll))
			return
		}
		f.Slug = scope
	}
	key := instancesKey(&f)
	cc := cached{key: key, index: func() uint64 { return s.n.FSM().InstancesIndexOf(f.Slug) }, params: q}
	s.readCached(c, cc, func(ws memdb.WatchSet) (uint64, any, error) {
		list, index, err := s.n.FSM().Instances(ws, f)
		return index, instanceList(list), err
	})
}

// listServices is GET /registry-svc/services: one row per slug.
func (s *Server) listServices(c *gin.Context) {
	if err := checkQuery(c, readParams...); err != nil {
		s.writeError(c, err)
		return
	}
	scope := viewScope(c)
	s.readCached(c, cached{key: "services " + scope, index: s.n.FSM().InstancesIndex}, func(ws memdb.WatchSet) (uint64, any, error) {
		list, index, err := s.n.FSM().Services(ws)
		if scope != "" {
			list = slices.DeleteFunc(list, func(sv *api.Service) bool { return sv.Slug != scope })
		}
		return index, gin.H{"services": list}, err
	})
}

// registerInstance validates and completes the registration on the node
// that received it (nodeUrl defaults to this node), then applies it on the
// leader, where the instance ID and timestamp are chosen.
func (s *Server) registerInstance(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	var req client.RegisterRequest
	if err := decodeStrict(c, &req, false); err != nil {
		s.writeError(c, err)
		return
	}
	if err := scopeRegistration(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	in, err := registration(req, s.n.SelfURL())
	if err == nil {
		err = s.checkTarget(&in)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	auth := authFor(c, api.PermInstanceEdit)
	fwd := client.RegisterRequest{
		ID: in.ID, URL: in.URL, Slug: in.Slug, DeploymentID: in.DeploymentID, NodeURL: in.NodeURL,
		Tags: in.Tags, Meta: in.Meta, Status: in.Status, Details: in.Details, Check: in.Check,
	}
	if s.viaBatch(c, forward.Write{Register: &fwd, Auth: auth}) {
		return
	}
	s.viaLeader(c, fwd, false, func(ctx context.Context) error {
		res, err := s.n.Apply(ctx, &fsm.Command{Type: fsm.CmdRegisterInstance, Register: &fsm.RegisterCommand{
			Instance: in, NewID: node.NewInstanceID(), Now: time.Now().UTC(), DefaultCheck: s.defaultCheck(&in),
		}, Auth: auth, Quota: s.quota})
		if err != nil {
			return err
		}
		row := res.(*api.Instance)
		setIndex(c, row.ModifyIndex)
		c.JSON(http.StatusCreated, gin.H{"instance": row})
		return nil
	})
}

func (s *Server) deleteInstance(c *gin.Context) {
	s.deleteByID(c, fsm.CmdDeregisterInstance)
}

// deleteByID removes a row by the :id path parameter: 204, or 404 if absent.
func (s *Server) deleteByID(c *gin.Context, t fsm.CommandType) {
	id := c.Param("id")
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	if err := fsm.ValidateID("id", id); err != nil {
		s.writeError(c, err)
		return
	}
	perm := api.PermInstanceDelete
	if t == fsm.CmdDeleteDefinition {
		perm = api.PermDefinitionDelete
	}
	auth := authFor(c, perm)
	if t == fsm.CmdDeregisterInstance && s.viaBatch(c, forward.Write{Deregister: id, Auth: auth}) {
		return
	}
	s.viaLeader(c, nil, false, func(ctx context.Context) error {
		if _, err := s.n.Apply(ctx, &fsm.Command{Type: t, ID: id, Auth: auth}); err != nil {
			return err
		}
		setIndex(c, s.n.AppliedIndex())
		c.Status(http.StatusNoContent)
		return nil
	})
}

// scopeRegistration applies a request's token to a registration: a token
// bound to a slug registers under that slug (a body without one takes it,
// as 1Backend takes it from the caller), and a status other than Unknown
// takes the status permission. The leader's FSM checks both again.
func scopeRegistration(c *gin.Context, req *client.RegisterRequest) error {
	tok := tokenOf(c)
	if tok == nil {
		return nil
	}
	if tok.Slug != "" {
		if req.Slug == "" {
			req.Slug = tok.Slug
		} else if req.Slug != tok.Slug {
			return api.Denied("slug", "the token is bound to slug %q and cannot register %q", tok.Slug, req.Slug)
		}
	}
	if req.Status != "" && req.Status != api.StatusUnknown && !tok.Has(api.PermInstanceStatus) {
		return api.Denied(api.PermInstanceStatus, "registering with status %s takes %s", req.Status, api.PermInstanceStatus)
	}
	return nil
}

// defaultCheck is the check a new instance registered without one gets:
// this (leading) node's default.
func (s *Server) defaultCheck(in *api.Instance) *api.Check {
	switch {
	case in.Check != nil:
		// The FSM stores a default check only for a new row without
		// one: not sent, it is neither built nor in the Raft entry.
		return nil
	case s.health != nil:
		return s.health.DefaultCheck(in.URL)
	}
	return api.DefaultCheck(in.URL, 0)
}

// CheckRegistration validates a registration body as a node would, for
// tools that check a whole file before sending any of it.
func CheckRegistration(req client.RegisterRequest) error {
	_, err := registration(req, "http://127.0.0.1:11337")
	return err
}

// registration validates and completes a registration body as the node
// that received it: the check completed with its defaults, the URL built or
// split, nodeUrl defaulting to this node. Every refusal is an *api.Error
// that names the field.
func registration(req client.RegisterRequest, selfURL string) (api.Instance, error) {
	in := api.Instance{
		ID: req.ID, URL: req.URL, Scheme: req.Scheme, Host: req.Host, IP: req.IP, Port: req.Port, Path: req.Path,
		Slug: req.Slug, DeploymentID: req.DeploymentID, NodeURL: req.NodeURL, Tags: req.Tags, Meta: req.Meta,
		Status: req.Status, Details: req.Details,
	}
	if req.Check != nil {
		ck := *req.Check
		ck.Complete()
		if err := api.ValidateCheck(&ck); err != nil {
			return in, err
		}
		in.Check = &ck
	}
	if in.ID != "" {
		if err := fsm.ValidateID("id", in.ID); err != nil {
			return in, err
		}
	}
	if err := noControl("details", in.Details); err != nil {
		return in, err
	}
	if len(in.NodeURL) > fsm.MaxURLLen {
		return in, api.Invalid("nodeUrl", "is %d characters, the limit is %d", len(in.NodeURL), fsm.MaxURLLen)
	}
	for _, tag := range in.Tags {
		if err := noControl("tags", tag); err != nil {
			return in, err
		}
	}
	if err := fsm.NormalizeInstance(&in); err != nil {
		return in, err
	}
	if in.NodeURL == "" {
		in.NodeURL = selfURL
	}
	check := in
	if check.ID == "" {
		check.ID = "pending"
	}
	return in, fsm.ValidateInstance(&check)
}

// metaQuery is a list's meta filters: ?meta.KEY=VALUE, every pair required.
type metaQuery struct {
	pairs  map[string]string
	params map[string]bool // the query parameters they came from
}

func metaFilters(values url.Values) (metaQuery, error) {
	var q metaQuery
	for name, vs := range values {
		key, ok := strings.CutPrefix(name, "meta.")
		if !ok {
			continue
		}
		if len(vs) > 1 {
			return q, api.Invalid(name, "given %d times; a meta key matches one value", len(vs))
		}
		if q.pairs == nil {
			q.pairs, q.params = map[string]string{}, map[string]bool{}
		}
		q.pairs[key], q.params[name] = vs[0], true
	}
	// The filter is checked as meta is: a key no instance could hold is
	// a mistake, not an empty list.
	return q, api.ValidateMeta(q.pairs)
}

// instanceList is a list's answer, {"instances": [...]}, as json.Marshal
// writes gin.H{"instances": list}, the instances written by hand
// (forward.AppendInstance): a slug's list is encoded again after each
// write to it, and a list of the whole catalog is every row.
type instanceList []*api.Instance

func (l instanceList) marshal() ([]byte, error) {
	b := append(make([]byte, 0, 64+400*len(l)), `{"instances":`...)
	if l == nil {
		return append(b, "null}"...), nil
	}
	b = append(b, '[')
	for i, in := range l {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = forward.AppendInstance(b, in); !ok {
			return json.Marshal(gin.H{"instances": []*api.Instance(l)})
		}
	}
	return append(b, "]}"...), nil
}
