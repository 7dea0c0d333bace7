package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
)

// A backup file (roster snapshot save) is three parts, each JSON lines: a
// header line, the catalog as Raft's snapshots hold it, and a trailer line
// with the SHA-256 of everything before it. A truncated, altered or
// foreign file fails one of the checks and changes nothing.

// BackupHeader is a backup's first line.
type BackupHeader struct {
	Roster  string    `json:"roster"` // always "snapshot"
	Version int       `json:"version"`
	Index   uint64    `json:"index"`
	Term    uint64    `json:"term"`
	Time    time.Time `json:"time"`
	Node    string    `json:"node"`
}

type backupTrailer struct {
	SHA256 string `json:"sha256"`
}

// backupVersion is the one this build writes and reads.
const backupVersion = 1

// MaxBackupBytes bounds an uploaded backup.
const MaxBackupBytes = 512 << 20

// ParseBackup checks a backup file and returns its header and the catalog
// stream inside (not yet read: fsm.CheckSnapshot reads it).
func ParseBackup(b []byte) (BackupHeader, []byte, error) {
	var h BackupHeader
	first := bytes.IndexByte(b, '\n')
	if first < 0 || json.Unmarshal(b[:first], &h) != nil || h.Roster != "snapshot" {
		return h, nil, api.Invalid("snapshot", "this is not a Roster snapshot (its first line is not a snapshot header)")
	}
	if h.Version != backupVersion {
		return h, nil, api.Invalid("snapshot", "snapshot version %d; this build reads version %d", h.Version, backupVersion)
	}
	body := bytes.TrimRight(b, "\n")
	last := bytes.LastIndexByte(body, '\n')
	var t backupTrailer
	if last <= first || json.Unmarshal(body[last+1:], &t) != nil || t.SHA256 == "" {
		return h, nil, api.Invalid("snapshot", "the snapshot has no checksum line at its end: it is truncated")
	}
	sum := sha256.Sum256(b[:last+1])
	if hex.EncodeToString(sum[:]) != t.SHA256 {
		return h, nil, api.Invalid("snapshot", "the snapshot's checksum does not match its content: it is damaged or altered")
	}
	return h, b[first+1 : last+1], nil
}

// saveSnapshot is GET /registry-svc/snapshot: the catalog as of a read
// index (every write acknowledged before the request is in it), from
// whichever node is asked.
func (s *Server) saveSnapshot(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.road.Hold())
	defer cancel()
	index, err := s.readIndexHere(ctx)
	if err == nil {
		if werr := s.n.WaitApplied(ctx, index); werr != nil {
			err = notApplied(werr)
		}
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	applied, write := s.n.FSM().Backup()
	// Streamed, hashed on the way: a 100,000-instance catalog is tens of
	// MB, not held here. An error after the first byte cuts the answer
	// short, which the missing checksum line tells the reader.
	h := BackupHeader{Roster: "snapshot", Version: backupVersion, Index: applied, Term: s.n.Status().Term,
		Time: time.Now().UTC(), Node: s.n.ID()}
	setIndex(c, applied)
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="roster-%d.snap"`, applied))
	c.Status(http.StatusOK)
	sum := sha256.New()
	w := io.MultiWriter(c.Writer, sum)
	line, _ := json.Marshal(h)
	if _, err := w.Write(append(line, '\n')); err != nil {
		return
	}
	if err := write(w); err != nil {
		s.log.Warn("snapshot save cut short", "err", err)
		return
	}
	line, _ = json.Marshal(backupTrailer{SHA256: hex.EncodeToString(sum.Sum(nil))})
	c.Writer.Write(append(line, '\n'))
}

// readIndexHere is a read index for this node: its own as leader, the
// leader's otherwise.
func (s *Server) readIndexHere(ctx context.Context) (uint64, error) {
	if !s.n.IsLeader() {
		index, err := s.road.ReadIndex(ctx)
		if !errors.Is(err, forward.ErrUsualPath) {
			return index, err
		}
	}
	return s.n.ReadIndex(ctx)
}

// restoreSnapshot is PUT /registry-svc/snapshot: the catalog replaced by a
// backup's, through Raft on the leader; every node ends with it.
func (s *Server) restoreSnapshot(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	// One restore at a time on a node: each holds the upload and a
	// scratch catalog in memory.
	select {
	case s.restoring <- struct{}{}:
		defer func() { <-s.restoring }()
	default:
		s.writeError(c, &api.Error{Code: api.CodeBusy, Message: "a snapshot restore is already under way on this node; try again when it ends"})
		return
	}
	b, err := readBody(c, "snapshot", MaxBackupBytes)
	if err != nil {
		s.writeError(c, err)
		return
	}
	h, state, err := ParseBackup(b)
	if err != nil {
		s.writeError(c, err)
		return
	}
	sum, err := fsm.CheckSnapshot(bytes.NewReader(state))
	if err != nil {
		s.writeError(c, api.Invalid("snapshot", "the catalog inside cannot be read: %v", err))
		return
	}
	s.viaLeader(c, rawBody(b), false, func(ctx context.Context) error {
		index, err := s.n.RestoreSnapshot(ctx, bytes.NewReader(state), int64(len(state)), sum.Applied)
		if err != nil {
			return err
		}
		setIndex(c, index)
		c.JSON(http.StatusOK, gin.H{"restored": sum, "from": h, "index": index})
		return nil
	})
}

// rawBody is a request body viaLeader forwards as it is.
type rawBody []byte
