package forward

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rosterhq/roster/api"
)

// A ?consistent read on a follower asks the leader for a read index (Raft's
// ReadIndex, as etcd does), waits until it has applied the log that far and
// answers from its own replica: the leader does a quorum check per batch of
// reads instead of serving each one. Reads that arrive while a request is
// on its way wait for the next one: an index fetched before a read began
// could miss a write acknowledged in between.

// ReadIndexPath answers a follower's read-index request on the leader.
const ReadIndexPath = "/registry-svc/internal/read-index"

// VoterTermParam is the read-index request's claim: the Raft term the
// asking node was in, as a voter, when it sent the request (after the
// reads it asks for began). The leader counts it as that voter's yes
// (node.ReadIndexFor); without it, or from an older build, the leader asks
// the voters as for any round.
const VoterTermParam = "voterTerm"

// ReadIndexAnswer is the body of the leader's answer.
type ReadIndexAnswer struct {
	Index uint64 `json:"index"`
}

// ReadIndex returns a read index fetched from the leader after the call
// began, shared with the other reads waiting for one. ErrUsualPath: this
// node leads, read through its own ReadIndex.
func (f *Forwarder) ReadIndex(ctx context.Context) (uint64, error) {
	index, err := f.readIndex.Do(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return 0, api.ErrNoLeader
	}
	return index, err
}

// fetchReadIndex asks the leader, through elections, for at most the hold
// time. A read is safe to ask again for, whatever went wrong.
func (f *Forwarder) fetchReadIndex() (uint64, error) {
	var index uint64
	err := f.WithLeader(f.stopped, 50*time.Millisecond, func(ctx context.Context, _, url string) bool {
		var err error
		index, err = f.askReadIndex(ctx, url)
		if err != nil {
			f.log.Debug("read index: asking the leader again", "leader", url, "err", err)
			return false
		}
		return true
	})
	return index, err
}

func (f *Forwarder) askReadIndex(ctx context.Context, url string) (uint64, error) {
	path := ReadIndexPath
	if f.voterTerm != nil {
		if term, ok := f.voterTerm(); ok {
			path += "?" + VoterTermParam + "=" + strconv.FormatUint(term, 10)
		}
	}
	resp, err := f.Do(ctx, url, Request{Method: http.MethodGet, Path: path})
	if err != nil {
		return 0, err
	}
	if err := resp.Err(); err != nil {
		return 0, err
	}
	var a ReadIndexAnswer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.Index == 0 {
		return 0, errors.New("unreadable read index")
	}
	f.learnFrom(resp.Header)
	return a.Index, nil
}

// FollowerCheckPath answers a leader's question on a voter: do you follow
// me in this term (?term=)? 204 is yes.
const FollowerCheckPath = "/registry-svc/internal/follower-check"

// CheckFollower asks the voter id at url whether it follows this node in
// term, on a connection that reaches that voter only (peerClient)
// (node.FollowerCheck): the leader's proof for a read index, one request
// per voter and round instead of a log entry.
func (f *Forwarder) CheckFollower(ctx context.Context, id, url string, term uint64) error {
	resp, err := f.Do(ctx, url, Request{Method: http.MethodGet, Path: FollowerCheckPath + "?term=" + strconv.FormatUint(term, 10), Expect: id})
	if err != nil {
		return err
	}
	return resp.Err()
}
