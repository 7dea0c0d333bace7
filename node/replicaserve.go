package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
)

// replicaHeartbeatEvery is how often an idle replica stream says it is
// alive; a client gives up on a stream silent for replicaSilence.
const (
	replicaHeartbeatEvery = time.Second
	replicaSilence        = 5 * time.Second
)

// ServeReplica streams this server's committed log to a client agent that
// has applied it up to after: the entries after it, or, when the log no
// longer holds them (compacted, or an operator's restore), the whole
// catalog first; then every entry as it is applied here, with a heartbeat
// each second. flush pushes what was written to the client. It returns when
// ctx ends, the client stops reading, or this node stops being a server.
//
// A server never sends an index below the client's: it waits (up to 10 s)
// until it has applied as far as the client has, so a client that moves to
// a lagging server does not go back in time.
func (n *Node) ServeReplica(ctx context.Context, after uint64, w io.Writer, flush func()) error {
	if !n.IsServer() {
		return &api.Error{Code: api.CodeNotLeader, Message: fmt.Sprintf("node %s is a client agent, not a server: stream from a server", n.id)}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := n.WaitApplied(wctx, after)
	cancel()
	if err != nil {
		return &api.Error{Code: api.CodeCatchingUp, Field: "after", Message: fmt.Sprintf(
			"this server has applied index %d, the client %d: it cannot serve a client ahead of it", n.fsm.AppliedIndex(), after)}
	}
	n.replicaStreams.Add(1)
	defer n.replicaStreams.Add(-1)
	fw := newFrameWriter(w)
	send := func() error {
		if err := fw.flush(); err != nil {
			return err
		}
		flush()
		return nil
	}
	next := after + 1
	if after == 0 || !n.hasLog(next) {
		if next, err = n.sendCatalog(fw); err != nil {
			return err
		}
	}
	tick := time.NewTicker(replicaHeartbeatEvery)
	defer tick.Stop()
	beat := true // the first heartbeat says the client is current
	for {
		wake := n.fsm.AppliedCh()
		applied := n.fsm.AppliedIndex()
		for next <= applied {
			logs, err := n.readLogs(next, applied)
			if errors.Is(err, raft.ErrLogNotFound) {
				// Compacted under the client, or an operator's restore
				// left a gap: start again from the whole catalog.
				if next, err = n.sendCatalog(fw); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if err := fw.entries(logs); err != nil {
				return err
			}
			next = logs[len(logs)-1].Index + 1
		}
		if beat {
			if err := fw.heartbeat(n.heartbeat(applied)); err != nil {
				return err
			}
			beat = false
		}
		if err := send(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.ctx.Done():
			return ErrShutdown
		case <-wake:
		case <-tick.C:
			if !n.IsServer() {
				return nil // demoted: the client finds a server
			}
			beat = true
		}
	}
}

// sendCatalog writes the whole catalog as it is now, with its index, and
// returns the index of the first entry to send after it.
func (n *Node) sendCatalog(fw *frameWriter) (uint64, error) {
	index, write := n.fsm.Backup()
	if err := fw.frame(frameSnapshot, binary.AppendUvarint(nil, index)); err != nil {
		return 0, err
	}
	if err := write(chunkWriter{fw}); err != nil {
		return 0, err
	}
	if err := fw.frame(frameSnapshotEnd, nil); err != nil {
		return 0, err
	}
	n.replicaSnapshots.Add(1)
	return index + 1, nil
}

// hasLog reports whether the log still holds index.
func (n *Node) hasLog(index uint64) bool {
	first, err := n.parts.store.FirstIndex()
	return err == nil && first > 0 && index >= first
}

// readLogs reads committed entries from..to, cut at maxEntriesCount entries
// or maxEntriesBytes.
func (n *Node) readLogs(from, to uint64) ([]*raft.Log, error) {
	var out []*raft.Log
	size := 0
	for i := from; i <= to && len(out) < maxEntriesCount && size < maxEntriesBytes; i++ {
		l := new(raft.Log)
		if err := n.logs.GetLog(i, l); err != nil {
			return nil, err
		}
		out = append(out, l)
		size += len(l.Data)
	}
	return out, nil
}

// heartbeat is what a client learns from its server besides the log.
func (n *Node) heartbeat(applied uint64) replicaHeartbeat {
	leader, _ := n.Leader()
	hb := replicaHeartbeat{Leader: leader, Term: n.raft.CurrentTerm(), Applied: applied}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			hb.Servers = append(hb.Servers, replicaServer{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
		}
	}
	return hb
}
