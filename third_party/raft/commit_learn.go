// Roster: a follower that learns the leader's commit index from outside the
// AppendEntries stream applies up to it at once (ROSTER.md).

package raft

// LearnCommit tells this node that the leader of term had committed its log
// up to index. Roster's followers hear it in the leader's answers (a read
// index, a forwarded write) before the next AppendEntries carries it: with
// a write every few ms that is 2-3 ms a consistent read waits for nothing.
//
// A follower in term whose log is known to match that leader's up to some
// index (the last entry of an AppendEntries it accepted in term) commits
// and applies up to the smaller of the two indexes, as an AppendEntries
// carrying that commit index would have made it: entries past what it
// has verified may be left from an earlier term and be replaced, so they
// wait for the leader. Anything else (another term, a leader, a candidate,
// a follower that has not yet accepted an append in term) ignores it.
//
// The caller must hold (term, index) from the leader of term itself, read
// while it led in term: a commit index a node learnt as a follower, or of
// another term, may cover entries this follower's log does not share.
// It never blocks; told several times before the follower loop runs, it
// keeps the highest.
func (r *Raft) LearnCommit(term, index uint64) {
	r.learnMu.Lock()
	if term > r.learnedTerm || (term == r.learnedTerm && index > r.learnedIndex) {
		r.learnedTerm, r.learnedIndex = term, index
	}
	r.learnMu.Unlock()
	select {
	case r.learnCh <- struct{}{}:
	default: // the loop is told already and will read the latest
	}
}

// logVerified records that the log matches the leader of term's up to index
// (an AppendEntries accepted in term). Main goroutine only.
func (r *Raft) logVerified(term, index uint64) {
	if term != r.verifiedTerm {
		r.verifiedTerm, r.verifiedIndex = term, index
		return
	}
	r.verifiedIndex = max(r.verifiedIndex, index)
}

// commitLearned applies what LearnCommit was told, as appendEntries applies
// a leader's commit index. Follower loop only.
func (r *Raft) commitLearned() {
	r.learnMu.Lock()
	term, index := r.learnedTerm, r.learnedIndex
	r.learnMu.Unlock()
	if term == 0 || term != r.getCurrentTerm() || term != r.verifiedTerm {
		return
	}
	idx := min(index, r.verifiedIndex)
	if idx <= r.getCommitIndex() || idx <= r.getLastApplied() {
		return // known, or applied already (a snapshot installed past it)
	}
	r.setCommitIndex(idx)
	if r.configurations.latestIndex <= idx {
		r.setCommittedConfiguration(r.configurations.latest, r.configurations.latestIndex)
	}
	r.processLogs(idx, nil)
}
