package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
)

func (s *Server) listDefinitions(c *gin.Context) {
	if err := checkQuery(c, readParams...); err != nil {
		s.writeError(c, err)
		return
	}
	s.read(c, func(ws memdb.WatchSet) (uint64, any, error) {
		list, index, err := s.n.FSM().Definitions(ws)
		return index, gin.H{"definitions": list}, err
	})
}

// saveDefinitionRequest is the seed's body: {"definition": {...}}.
type saveDefinitionRequest struct {
	Definition *api.Definition `json:"definition"`
}

func (s *Server) saveDefinition(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	var req saveDefinitionRequest
	if err := decodeStrict(c, &req, false); err != nil {
		s.writeError(c, err)
		return
	}
	if req.Definition == nil {
		s.writeError(c, api.Invalid("definition", "is required: send {\"definition\": {\"id\": ..., \"image\": ...}}"))
		return
	}
	d := req.Definition
	d.CreateIndex, d.ModifyIndex = 0, 0
	if err := fsm.ValidateNewDefinition(d); err != nil {
		s.writeError(c, err)
		return
	}
	s.viaLeader(c, req, false, func(ctx context.Context) error {
		res, err := s.n.Apply(ctx, &fsm.Command{Type: fsm.CmdSaveDefinition, Definition: d, Auth: authFor(c, api.PermDefinitionEdit), Quota: s.quota})
		if err != nil {
			return err
		}
		row := res.(*api.Definition)
		setIndex(c, row.ModifyIndex)
		c.JSON(http.StatusCreated, gin.H{"definition": row})
		return nil
	})
}

func (s *Server) deleteDefinition(c *gin.Context) {
	s.deleteByID(c, fsm.CmdDeleteDefinition)
}

func (s *Server) clusterStatus(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	st := s.n.Status()
	usage := s.n.FSM().Usage()
	if s.quota != nil {
		usage.Quota = *s.quota
	}
	st.Catalog = &usage
	if s.health != nil {
		hs := s.health.Status()
		st.Health = &hs
	}
	setIndex(c, st.AppliedIndex)
	c.JSON(http.StatusOK, st)
}
