package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
)

// Route is one public route and the permission it takes with ACLs on (""
// for none). The table is the one place a route's permission is decided;
// the ACL tests walk it.
type Route struct {
	Method, Path, Permission string
}

// Routes lists the public routes with their permissions.
func (s *Server) Routes() []Route { return append([]Route(nil), s.table...) }

// route registers a public route under /registry-svc behind its permission.
func (s *Server) route(g *gin.RouterGroup, method, path, perm string, h ...gin.HandlerFunc) {
	s.table = append(s.table, Route{Method: method, Path: g.BasePath() + path, Permission: perm})
	g.Handle(method, path, append([]gin.HandlerFunc{s.require(perm)}, h...)...)
}

func (s *Server) routes(e *gin.Engine, o Options) {
	r := e.Group("/registry-svc", s.browserGate)
	s.route(r, http.MethodGet, "/instances", api.PermInstanceView, s.listInstances)
	s.route(r, http.MethodGet, "/services", api.PermInstanceView, s.listServices)
	s.route(r, http.MethodGet, "/events", api.PermInstanceView, s.events)
	s.route(r, http.MethodPut, "/instance", api.PermInstanceEdit, s.registerInstance)
	s.route(r, http.MethodDelete, "/instance/:id", api.PermInstanceDelete, s.deleteInstance)
	s.route(r, http.MethodPut, "/instance/:id/status", api.PermInstanceStatus, s.setInstanceStatus)
	s.route(r, http.MethodPut, "/instance/:id/heartbeat", api.PermInstanceStatus, s.heartbeat)
	s.route(r, http.MethodPut, "/instances/status", api.PermInstanceStatus, s.setStatuses)
	s.route(r, http.MethodGet, "/definitions", api.PermDefinitionView, s.listDefinitions)
	s.route(r, http.MethodPut, "/definition", api.PermDefinitionEdit, s.saveDefinition)
	s.route(r, http.MethodDelete, "/definition/:id", api.PermDefinitionDelete, s.deleteDefinition)
	s.route(r, http.MethodPost, "/nodes", api.PermNodeView, s.listNodes)
	s.route(r, http.MethodGet, "/node/self", api.PermNodeView, s.selfNode)
	s.route(r, http.MethodDelete, "/node/*url", api.PermNodeDelete, s.deleteNode)
	s.route(r, http.MethodGet, "/cluster/status", api.PermNodeView, s.clusterStatus)
	s.route(r, http.MethodGet, "/keyring", api.PermNodeView, s.keyring)
	s.route(r, http.MethodPut, "/keyring", api.PermOperator, s.operatorsOnly, s.changeKeyring)
	s.route(r, http.MethodPut, "/agent/leave", api.PermOperator, s.leave)
	s.route(r, http.MethodGet, "/snapshot", api.PermOperator, s.saveSnapshot)
	s.route(r, http.MethodPut, "/snapshot", api.PermOperator, s.restoreSnapshot)
	s.route(r, http.MethodPost, "/acl/bootstrap", "", s.aclBootstrap)
	s.route(r, http.MethodPost, "/tokens", api.PermOperator, s.createToken)
	s.route(r, http.MethodGet, "/tokens", api.PermOperator, s.listTokens)
	s.route(r, http.MethodGet, "/token/self", "", s.tokenSelf)
	s.route(r, http.MethodDelete, "/token/:id", api.PermOperator, s.deleteToken)
	s.route(r, http.MethodGet, "/kv/*key", api.PermKVView, s.getKV)
	s.route(r, http.MethodPut, "/kv/*key", api.PermKVEdit, s.putKV)
	s.route(r, http.MethodDelete, "/kv/*key", api.PermKVEdit, s.deleteKV)
	s.route(r, http.MethodGet, "/registrator", api.PermNodeView, s.registratorStatus)
	s.route(r, http.MethodGet, "/openapi.json", "", s.openAPI)

	// Between nodes: node certificates, no tokens (the writes they carry
	// hold their own token's accessor).
	e.POST(forward.WritesPath, s.nodesOnly, s.internalWrites)
	e.GET(forward.ReadIndexPath, s.nodesOnly, s.internalReadIndex)
	e.GET(forward.FollowerCheckPath, s.nodesOnly, s.internalFollowerCheck)
	e.PUT(forward.StatusesPath, s.nodesOnly, s.setStatuses) // the checkers' batches: no token, the cluster's own writes
	e.GET(forward.ReplicaPath, s.nodesOnly, s.replicaStream)
	e.GET(keyringPath, s.nodesOnly, s.localKeyring)
	e.PUT(keyringPath, s.nodesOnly, s.changeLocalKeyring)

	// Prometheus scrapes with a token that holds node:view when tokens
	// are on (its bearer_token setting).
	s.table = append(s.table, Route{Method: http.MethodGet, Path: "/metrics", Permission: api.PermNodeView})
	e.GET("/metrics", s.require(api.PermNodeView), s.serveMetrics)

	s.uiRoutes(e)

	// Probes answer anyone: load balancers and orchestrators hold no token.
	e.GET("/healthz", s.healthz)
	e.GET("/health", s.healthz) // the seed's connectivity script calls /health
	e.GET("/readyz", s.readyz)
	if o.Debug {
		e.Any("/debug/pprof/*any", s.require(api.PermOperator), gin.WrapH(pprofMux()))
	}
	// The proxy serves the services' own users, who hold no registry
	// token; what it routes to is what the (token-checked) catalog says.
	s.proxy = newProxy(s, o)
	e.NoRoute(func(c *gin.Context) {
		if slug := slugOf(c.Request.URL.Path); slug != "" {
			s.proxy.serve(c, slug)
			return
		}
		c.JSON(http.StatusNotFound, gin.H{"error": "no route for " + c.Request.Method + " " + c.Request.URL.Path, "code": "not_found"})
	})
	e.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, gin.H{"error": c.Request.Method + " is not allowed on " + c.Request.URL.Path, "code": "invalid"})
	})
}
