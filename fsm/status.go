package fsm

import (
	"fmt"

	"github.com/rosterhq/roster/api"
)

// MaxStatusUpdates bounds one set-statuses command (well under
// MaxCommandSize at a few hundred bytes an update).
const MaxStatusUpdates = 2000

// ValidateStatusUpdates checks a batch before it is proposed; Apply checks
// each update again and skips a bad one.
func ValidateStatusUpdates(us []StatusUpdate) error {
	if len(us) == 0 {
		return Invalid("updates", "is empty")
	}
	if len(us) > MaxStatusUpdates {
		return Invalid("updates", "has %d updates, the limit is %d", len(us), MaxStatusUpdates)
	}
	for i := range us {
		if err := validateStatusUpdate(&us[i]); err != nil {
			err.Field = fmt.Sprintf("updates[%d].%s", i, err.Field)
			return err
		}
	}
	return nil
}

func validateStatusUpdate(u *StatusUpdate) *Error {
	if err := ValidateID("id", u.ID); err != nil {
		return err.(*Error)
	}
	for _, s := range []struct {
		field string
		v     Status
	}{{"status", u.Status}, {"from", u.From}} {
		if s.v != "" && !s.v.Valid() {
			return Invalid(s.field, "%q is not one of %v", s.v, Statuses)
		}
	}
	switch {
	case len(u.Reason) > MaxTextLen:
		return Invalid("reason", "is %d characters, the limit is %d", len(u.Reason), MaxTextLen)
	case u.Remove && (u.Status != "" || !u.Heartbeat.IsZero()):
		return Invalid("remove", "a removal carries no status or heartbeat")
	case !u.Remove && u.Status == "" && u.Heartbeat.IsZero():
		return Invalid("status", "an update needs a status, a heartbeat or remove")
	case u.Status != "" && u.At.IsZero():
		return Invalid("at", "a status change needs the time it was observed")
	}
	return nil
}

// setStatuses applies a batch in one transaction. Updates that no longer
// apply are skipped, never an error for the batch: they come from checkers
// whose view may be a moment old.
func setStatuses(txn *tx, index uint64, us []StatusUpdate, tok *TokenRow) (*StatusResult, error) {
	res := &StatusResult{Applied: []string{}, Skipped: []string{}, Missing: []string{}}
	for i := range us {
		u := &us[i]
		row := txn.instances().get(u.ID)
		switch {
		case row == nil, !inScope(tok, row):
			res.Missing = append(res.Missing, u.ID)
			continue
		case u.Remove && tok != nil && !tok.Has(api.PermInstanceDelete):
			res.Skipped = append(res.Skipped, u.ID)
			continue
		case validateStatusUpdate(u) != nil,
			u.IfModifyIndex != 0 && row.ModifyIndex != u.IfModifyIndex,
			u.From != "" && row.Status != u.From:
			res.Skipped = append(res.Skipped, u.ID)
			continue
		case u.Remove:
			if err := account(txn, nil, -1, 0, 0, -instanceSize(row)); err != nil {
				return nil, err
			}
			txn.inst.remove(row, index)
			res.Applied = append(res.Applied, u.ID)
			continue
		}
		// A status or heartbeat changes no tag, meta or check: the new
		// version shares them with the old (stored rows are never written
		// in place) instead of copying them on every heartbeat.
		shallow := *row
		next, changed := &shallow, false
		if u.Status != "" && u.Status != row.Status {
			next.Status, next.StatusChangedAt, next.StatusReason = u.Status, u.At, u.Reason
			changed = true
		}
		if u.Heartbeat.After(row.LastHeartbeat) {
			next.LastHeartbeat = u.Heartbeat
			changed = true
		}
		if !changed {
			res.Skipped = append(res.Skipped, u.ID)
			continue
		}
		next.ModifyIndex = index
		if err := account(txn, nil, 0, 0, 0, instanceSize(next)-instanceSize(row)); err != nil {
			return nil, err
		}
		txn.inst.put(row, next)
		res.Applied = append(res.Applied, u.ID)
		res.Rows = append(res.Rows, next)
	}
	if len(res.Applied) == 0 {
		return res, nil
	}
	return res, bumpIndex(txn, tableInstances, index)
}
