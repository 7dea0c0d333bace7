package fsm

import (
	"fmt"

	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
)

// registerInstance upserts by URL. Every check runs before the first write so
// that a refused command changes nothing in the catalog.
//
// It takes rc.Instance as the new row, without a copy: the FSM applies only
// commands it has just decoded from a log entry (each applied once, and
// decoded afresh if applied again), whose strings, tags and meta nothing
// else holds. A caller that keeps rc must pass a copy.
func registerInstance(txn *tx, index uint64, rc *RegisterCommand, tok *TokenRow, q *api.Quota) (*Instance, error) {
	req := &rc.Instance
	insts := txn.instances()
	byURL := insts.getURL(req.URL)
	var byID *Instance
	if req.ID != "" {
		byID = insts.get(req.ID)
	}
	if byURL != nil && req.ID != "" && byURL.ID != req.ID {
		return nil, Conflict("url", "%s is already registered as instance %s", req.URL, byURL.ID)
	}
	existing := byURL
	if existing == nil {
		existing = byID // same ID, new URL: the instance moved
	}
	if tok != nil && tok.Slug != "" {
		switch {
		case req.Slug != tok.Slug:
			return nil, api.Denied("slug", "the token is bound to slug %q", tok.Slug)
		case existing != nil && existing.Slug != tok.Slug:
			// Said as a conflict, as for any URL held by another slug,
			// without naming the other instance.
			return nil, Conflict("url", "%s is registered by another service", req.URL)
		}
	}
	if tok != nil && req.Status != "" && req.Status != StatusUnknown && !tok.Has(api.PermInstanceStatus) {
		return nil, api.Denied(api.PermInstanceStatus, "registering with status %s takes %s", req.Status, api.PermInstanceStatus)
	}
	var row *Instance
	if existing == nil {
		row = req
		if row.ID == "" {
			// A generated ID that another row holds would take its place
			// in the ID index: refused, the same on every replica, and
			// the client registers again with a new one.
			if insts.get(rc.NewID) != nil {
				return nil, Conflict("id", "the generated ID %s is taken; register again", rc.NewID)
			}
			row.ID = rc.NewID
		}
		if row.Status == "" {
			row.Status = StatusUnknown
		}
		if row.Check == nil && rc.DefaultCheck != nil {
			ck := *rc.DefaultCheck
			row.Check = &ck
		}
		row.StatusChangedAt = rc.Now
		row.CreateIndex = index
	} else {
		if req.Slug != "" && existing.Slug != "" && req.Slug != existing.Slug {
			return nil, Conflict("slug", "%s is owned by slug %q, not %q; remove instance %s first",
				existing.URL, existing.Slug, req.Slug, existing.ID)
		}
		row = mergeInstance(existing, req)
		if row.Status != existing.Status {
			row.StatusChangedAt, row.StatusReason = rc.Now, "set at registration"
		}
	}
	if !rc.Now.IsZero() {
		row.LastHeartbeat = rc.Now
	}
	row.ModifyIndex = index
	if err := ValidateInstance(row); err != nil {
		return nil, err
	}
	added := 0
	if existing == nil {
		added = 1
	}
	if err := account(txn, q, added, 0, 0, instanceSize(row)-instanceSize(existing)); err != nil {
		return nil, err
	}
	txn.inst.put(existing, row)
	return row, bumpIndex(txn, tableInstances, index)
}

// mergeInstance applies a re-registration: fields the request sets replace
// the stored ones, fields it leaves empty keep their value (the original
// server's rule, which keeps a status across re-registration).
func mergeInstance(old, req *Instance) *Instance {
	row := old.Clone()
	row.URL, row.Scheme, row.Host, row.IP, row.Port, row.Path = req.URL, req.Scheme, req.Host, req.IP, req.Port, req.Path
	setIf := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setIf(&row.DeploymentID, req.DeploymentID)
	setIf(&row.NodeURL, req.NodeURL)
	setIf(&row.Slug, req.Slug)
	setIf(&row.Details, req.Details)
	if req.Status != "" {
		row.Status = req.Status
	}
	if req.Tags != nil {
		row.Tags = req.Tags
	}
	if req.Check != nil {
		row.Check = req.Check
	}
	if req.Meta != nil {
		row.Meta = req.Meta
	}
	return row
}

func deregisterInstance(txn *tx, index uint64, id string, tok *TokenRow) error {
	row := txn.instances().get(id)
	if row == nil || !inScope(tok, row) {
		return NotFound("instance %s not found", id)
	}
	if err := account(txn, nil, -1, 0, 0, -instanceSize(row)); err != nil {
		return err
	}
	txn.inst.remove(row, index)
	return bumpIndex(txn, tableInstances, index)
}

func saveDefinition(txn *tx, index uint64, d *Definition, q *api.Quota) (*Definition, error) {
	if err := ValidateDefinition(d); err != nil {
		return nil, err
	}
	row := *d
	row.CreateIndex, row.ModifyIndex = index, index
	old, err := txn.First(tableDefinitions, "id", d.ID)
	if err != nil {
		return nil, err
	}
	var was *Definition
	added := 1
	if old != nil {
		was, added = old.(*Definition), 0
		row.CreateIndex = was.CreateIndex
	}
	if err := account(txn, q, 0, added, 0, definitionSize(&row)-definitionSize(was)); err != nil {
		return nil, err
	}
	if err := txn.Insert(tableDefinitions, &row); err != nil {
		return nil, fmt.Errorf("insert definition: %w", err)
	}
	return &row, bumpIndex(txn, tableDefinitions, index)
}

func deleteDefinition(txn *tx, index uint64, id string) error {
	old, err := txn.First(tableDefinitions, "id", id)
	if err != nil {
		return err
	}
	if old == nil {
		return NotFound("definition %s not found", id)
	}
	if err := account(txn, nil, 0, -1, 0, -definitionSize(old.(*Definition))); err != nil {
		return err
	}
	if err := txn.Delete(tableDefinitions, old); err != nil {
		return fmt.Errorf("delete definition: %w", err)
	}
	return bumpIndex(txn, tableDefinitions, index)
}

// bumpIndex sets a table's index at the transaction's commit.
func bumpIndex(txn *tx, table string, index uint64) error {
	txn.bump(table, index)
	return nil
}

// setIndex writes a table's index now.
func setIndex(txn *memdb.Txn, table string, index uint64) error {
	return txn.Insert(tableIndex, &indexEntry{Table: table, Index: index})
}
