package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
)

// The KV tree: GET, PUT and DELETE /registry-svc/kv/{key...}. A value is
// the request body (any bytes, application/octet-stream or JSON), answered
// as the entry with its value in base64, or as it is with ?raw. Reads
// follow the catalog's rules (local, ?consistent, ?index&wait); every write
// goes through Raft.

func kvKey(c *gin.Context) string { return strings.TrimPrefix(c.Param("key"), "/") }

// getKV is one key, or with ?recurse every entry under a prefix, or with
// ?keys their names.
func (s *Server) getKV(c *gin.Context) {
	if err := checkQuery(c, append([]string{"recurse", "keys", "raw"}, readParams...)...); err != nil {
		s.writeError(c, err)
		return
	}
	var flags [3]bool
	for i, name := range []string{"recurse", "keys", "raw"} {
		v, err := boolQuery(c, name)
		if err != nil {
			s.writeError(c, err)
			return
		}
		flags[i] = v
	}
	recurse, keys, raw := flags[0], flags[1], flags[2]
	key := kvKey(c)
	switch {
	case recurse && keys:
		s.writeError(c, api.Invalid("keys", "and recurse do not mix: keys lists names, recurse lists entries"))
		return
	case raw && (recurse || keys):
		s.writeError(c, api.Invalid("raw", "answers one key's value; it does not apply to lists"))
		return
	}
	if err := api.ValidateKVKey(key, recurse || keys); err != nil {
		s.writeError(c, err)
		return
	}
	if recurse || keys {
		s.read(c, func(ws memdb.WatchSet) (uint64, any, error) {
			list, index, err := s.n.FSM().KVList(ws, key)
			if !keys {
				return index, gin.H{"entries": list}, err
			}
			names := make([]string, len(list))
			for i, e := range list {
				names[i] = e.Key
			}
			return index, gin.H{"keys": names}, err
		})
		return
	}
	s.read(c, func(ws memdb.WatchSet) (uint64, any, error) {
		e, index, err := s.n.FSM().KV(ws, key)
		if err == nil && e == nil {
			err = api.NotFound("key %s not found", key)
		}
		if err != nil {
			return index, nil, err
		}
		if raw {
			return index, rawValue(e.Value), nil
		}
		return index, e, nil
	})
}

// rawValue is a value answered as it is (writeList sends it unencoded).
type rawValue []byte

func casQuery(c *gin.Context) (*uint64, error) {
	v, ok := c.GetQuery("cas")
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, api.Invalid("cas", "%q is not a modify index (0: only create)", v)
	}
	return &n, nil
}

// putKV sets a key to the request body.
func (s *Server) putKV(c *gin.Context) {
	if err := checkQuery(c, "cas"); err != nil {
		s.writeError(c, err)
		return
	}
	cas, err := casQuery(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	value, err := readBody(c, "value", api.MaxKVValueLen)
	if err != nil {
		s.writeError(c, err)
		return
	}
	cmd := &fsm.KVCommand{Key: kvKey(c), Value: value, CAS: cas}
	if err := fsm.ValidateKV(cmd, true); err != nil {
		s.writeError(c, err)
		return
	}
	s.viaLeader(c, rawBody(value), false, func(ctx context.Context) error {
		res, err := s.n.Apply(ctx, &fsm.Command{Type: fsm.CmdKVSet, KV: cmd, Auth: authFor(c, api.PermKVEdit), Quota: s.quota})
		if err != nil {
			return err
		}
		e := res.(*fsm.KVEntry)
		setIndex(c, e.ModifyIndex)
		c.JSON(http.StatusOK, e)
		return nil
	})
}

// deleteKV removes a key (?cas=N only at that modify index), or with
// ?recurse every key under a prefix.
func (s *Server) deleteKV(c *gin.Context) {
	if err := checkQuery(c, "cas", "recurse"); err != nil {
		s.writeError(c, err)
		return
	}
	var empty struct{}
	if err := decodeStrict(c, &empty, true); err != nil {
		s.writeError(c, err)
		return
	}
	cas, err := casQuery(c)
	if err == nil && cas != nil && *cas == 0 {
		err = api.Invalid("cas", "0 means \"only if absent\": there is nothing to delete then")
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	recurse, err := boolQuery(c, "recurse")
	if err != nil {
		s.writeError(c, err)
		return
	}
	cmd := &fsm.KVCommand{Key: kvKey(c), CAS: cas, Recurse: recurse}
	if err := fsm.ValidateKV(cmd, false); err != nil {
		s.writeError(c, err)
		return
	}
	s.viaLeader(c, nil, false, func(ctx context.Context) error {
		res, err := s.n.Apply(ctx, &fsm.Command{Type: fsm.CmdKVDelete, KV: cmd, Auth: authFor(c, api.PermKVEdit)})
		if err != nil {
			return err
		}
		setIndex(c, s.n.AppliedIndex())
		c.JSON(http.StatusOK, gin.H{"deleted": res})
		return nil
	})
}
