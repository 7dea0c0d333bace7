package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
)

// fakeNode is a follower whose idea of the leader the test sets.
type fakeNode struct {
	mu       sync.Mutex
	leaderID string
	url      string
	leading  bool
	changed  chan struct{}
	applied  atomic.Uint64
	applies  atomic.Int64
}

func newFakeNode() *fakeNode { return &fakeNode{changed: make(chan struct{})} }

func (n *fakeNode) ID() string { return "me" }
func (n *fakeNode) IsLeader() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leading
}
func (n *fakeNode) Leader() (string, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leaderID, n.url
}
func (n *fakeNode) LeaderChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}
func (n *fakeNode) Apply(context.Context, *fsm.Command) (any, error) {
	n.applies.Add(1)
	return nil, nil
}
func (n *fakeNode) AppliedIndex() uint64                            { return n.applied.Load() }
func (n *fakeNode) WaitApplied(ctx context.Context, i uint64) error { return nil }

// setLeader makes id at url the leader this node knows, as a Raft leader
// observation would.
func (n *fakeNode) setLeader(id, url string, leading bool) {
	n.mu.Lock()
	n.leaderID, n.url, n.leading = id, url, leading
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// fakeLeader answers the internal routes the way handler says, counting
// the batches and writes it got.
type fakeLeader struct {
	*httptest.Server
	batches atomic.Int64
	writes  atomic.Int64
	reads   atomic.Int64
}

func newFakeLeader(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, req *BatchRequest)) *fakeLeader {
	l := &fakeLeader{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(Header) != "me" {
			t.Errorf("request without %s", Header)
		}
		var req *BatchRequest
		switch r.URL.Path {
		case WritesPath:
			req = &BatchRequest{}
			if err := json.NewDecoder(r.Body).Decode(req); err != nil {
				t.Errorf("batch body: %v", err)
			}
			l.batches.Add(1)
			l.writes.Add(int64(len(req.Writes)))
		case ReadIndexPath:
			l.reads.Add(1)
		}
		handler(w, r, req)
	}))
	t.Cleanup(l.Close)
	return l
}

// echo answers every write of a batch with 201 and an instance whose URL is
// the registration's.
func echo(w http.ResponseWriter, r *http.Request, req *BatchRequest) {
	if req == nil {
		json.NewEncoder(w).Encode(ReadIndexAnswer{Index: 42})
		return
	}
	var res BatchResponse
	for _, wr := range req.Writes {
		res.Results = append(res.Results, Answer{Status: 201, Instance: mustJSON(&api.Instance{URL: wr.Register.URL})})
	}
	w.Header().Set("X-Registry-Index", "7")
	json.NewEncoder(w).Encode(res)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// The hand-built batch answer is the JSON encoding/json would write: an
// old follower, which decodes the instance as a struct, reads it alike.
func TestAppendBatchResponseIsTheJSONOfTheAnswers(t *testing.T) {
	in := &api.Instance{ID: "inst-1", URL: "http://a:1/<x>&", Slug: "web", Meta: map[string]string{"k": "v"}}
	answers := []Answer{
		{Status: 201, Instance: mustJSON(in)},
		{Status: 204},
		{Status: 409, Error: &api.ErrorBody{Error: "taken", Code: api.CodeConflict, Field: "url"}},
		{Status: 201, Instance: mustJSON(&api.Instance{ID: "inst-2"})},
	}
	got, err := AppendBatchResponse([]byte("prefix:"), answers)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(BatchResponse{Results: answers})
	if string(got) != "prefix:"+string(want) {
		t.Fatalf("got  %s\nwant prefix:%s", got, want)
	}
	var old struct {
		Results []struct {
			Status   int            `json:"status"`
			Instance *api.Instance  `json:"instance"`
			Error    *api.ErrorBody `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(got[len("prefix:"):], &old); err != nil || len(old.Results) != 4 ||
		!reflect.DeepEqual(old.Results[0].Instance, in) || old.Results[1].Status != 204 || old.Results[2].Error.Field != "url" {
		t.Fatalf("an old follower reads %+v (%v)", old, err)
	}
}

func refuse(code api.Code) func(http.ResponseWriter, *http.Request, *BatchRequest) {
	return func(w http.ResponseWriter, _ *http.Request, _ *BatchRequest) {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: "no", Code: code})
	}
}

func newForwarder(t *testing.T, n Node, hold time.Duration) *Forwarder {
	f := New(Config{Node: n, HTTP: &http.Client{}, Hold: hold})
	t.Cleanup(f.Close)
	return f
}

func write(i int) Write {
	return Write{Register: &api.RegisterRequest{URL: fmt.Sprintf("http://a:%d", i+1)}}
}

// outcome waits for an outcome, failing the test if it does not come.
func outcome(t *testing.T, ch <-chan Outcome, within time.Duration) Outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(within):
		t.Fatalf("no outcome within %v", within)
		return Outcome{}
	}
}

func submit(f *Forwarder, w Write) <-chan Outcome {
	ch := make(chan Outcome, 1)
	go func() { ch <- f.Submit(w) }()
	return ch
}

// Writes that queue while batches are in flight leave together, and each
// client gets its own answer.
func TestSubmitGroupsQueuedWritesAndKeepsEachAnswer(t *testing.T) {
	release := make(chan struct{})
	l := newFakeLeader(t, func(w http.ResponseWriter, r *http.Request, req *BatchRequest) {
		<-release
		echo(w, r, req)
	})
	n := newFakeNode()
	n.setLeader("l", l.URL, false)
	f := newForwarder(t, n, 30*time.Second)
	var chans []<-chan Outcome
	for i := range 40 {
		chans = append(chans, submit(f, write(i)))
	}
	// Every sender busy, or (on a loaded machine, when every write was
	// queued before the first sender ran) all writes in the first batch.
	for l.batches.Load() < maxSenders && l.writes.Load() < 40 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for i, ch := range chans {
		o := outcome(t, ch, 10*time.Second)
		if o.Err != nil || o.Answer.Status != 201 || !strings.Contains(string(o.Answer.Instance), fmt.Sprintf(`"url":"http://a:%d"`, i+1)) || o.Index != 7 {
			t.Fatalf("write %d: %+v", i, o)
		}
	}
	if b := l.batches.Load(); b > maxSenders+2 || l.writes.Load() != 40 {
		t.Fatalf("%d writes in %d batches", l.writes.Load(), b)
	}
}

// Pending records are recycled: clients that write again and again, many
// at once, each get the answer to the write they just made, never one of
// a record's earlier write (the race detector watches the reuse).
func TestRecycledRecordsKeepEachAnswerWithItsWrite(t *testing.T) {
	l := newFakeLeader(t, echo)
	n := newFakeNode()
	n.setLeader("l", l.URL, false)
	f := newForwarder(t, n, 30*time.Second)
	const clients, rounds = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// Every other write is large, so recycled buffers change size.
				i := c*rounds + r
				w := write(i)
				if r%2 == 1 {
					w.Register.Tags = []string{strings.Repeat("t", 2000+i)}
				}
				o := f.Submit(w)
				if o.Err != nil || !strings.Contains(string(o.Answer.Instance), fmt.Sprintf(`"url":"http://a:%d"`, i+1)) {
					errs <- fmt.Errorf("client %d round %d: %+v", c, r, o)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := l.writes.Load(); got != clients*rounds {
		t.Errorf("the leader got %d writes, want %d", got, clients*rounds)
	}
}

// A leader that freezes mid-batch: the write answers indeterminate as soon
// as a newer leader is known (not after the hold), it is not sent again,
// and the next write goes to the new leader.
func TestLeaderChangeMidBatchAnswersIndeterminateAndMovesOn(t *testing.T) {
	frozen := make(chan struct{})
	old := newFakeLeader(t, func(http.ResponseWriter, *http.Request, *BatchRequest) { <-frozen })
	t.Cleanup(func() { close(frozen) }) // before the server's Close, which waits for its handlers
	next := newFakeLeader(t, echo)
	n := newFakeNode()
	n.setLeader("old", old.URL, false)
	f := newForwarder(t, n, time.Minute)
	ch := submit(f, write(1))
	for old.batches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	n.setLeader("next", next.URL, false)
	if o := outcome(t, ch, 10*time.Second); !errors.Is(o.Err, api.ErrIndeterminate) {
		t.Fatalf("in flight at the frozen leader: %+v", o)
	}
	if next.writes.Load() != 0 {
		t.Fatal("an indeterminate write was sent again")
	}
	if o := f.Submit(write(2)); o.Err != nil || o.Answer.Status != 201 {
		t.Fatalf("next write: %+v", o)
	}
}

// not_leader and no_leader promise nothing was written: the batch goes to
// whoever leads next. Any other refusal is every write's answer.
func TestRefusalsThatPromiseNothingAreSentAgain(t *testing.T) {
	var asked atomic.Int64
	l := newFakeLeader(t, func(w http.ResponseWriter, r *http.Request, req *BatchRequest) {
		switch asked.Add(1) {
		case 1:
			refuse(api.CodeNotLeader)(w, r, req)
		case 2:
			refuse(api.CodeNoLeader)(w, r, req)
		default:
			echo(w, r, req)
		}
	})
	n := newFakeNode()
	n.setLeader("l", l.URL, false)
	f := newForwarder(t, n, time.Minute)
	if o := f.Submit(write(1)); o.Err != nil || o.Answer.Status != 201 || l.batches.Load() != 3 {
		t.Fatalf("after not_leader and no_leader: %+v, %d batches", o, l.batches.Load())
	}
	tooBig := newFakeLeader(t, func(w http.ResponseWriter, _ *http.Request, _ *BatchRequest) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: "big", Code: api.CodeTooLarge})
	})
	n.setLeader("big", tooBig.URL, false)
	if o := f.Submit(write(2)); o.Err != nil || o.Answer.Status != 413 || o.Answer.Error.Code != api.CodeTooLarge || tooBig.batches.Load() != 1 {
		t.Fatalf("413: %+v", o)
	}
}

// With no leader, a write waits for one (the hold); Close ends the wait at
// once with shutting_down, and waits for the senders.
func TestCloseEndsWritesAndReadsWaitingForALeader(t *testing.T) {
	n := newFakeNode()
	f := New(Config{Node: n, HTTP: &http.Client{}, Hold: time.Minute})
	ch := submit(f, write(1))
	read := make(chan error, 1)
	go func() { _, err := f.ReadIndex(context.Background()); read <- err }()
	time.Sleep(50 * time.Millisecond)
	f.Close()
	if o := outcome(t, ch, 5*time.Second); !errors.Is(o.Err, api.ErrShuttingDown) {
		t.Fatalf("write: %+v", o)
	}
	select {
	case err := <-read:
		if !errors.Is(err, api.ErrShuttingDown) {
			t.Fatalf("read index: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read index still waiting after Close")
	}
}

// Writes and reads that arrive while the Forwarder closes are answered,
// refused with shutting_down or (a write in flight) indeterminate; those
// after Close are refused at once, and
// Close never races a sender or a read round starting (run with -race).
func TestCloseWhileWritesAndReadsArrive(t *testing.T) {
	l := newFakeLeader(t, echo)
	n := newFakeNode()
	n.setLeader("l", l.URL, false)
	f := New(Config{Node: n, HTTP: &http.Client{}, Hold: time.Minute})
	var closed atomic.Bool
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !closed.Load() {
				var err error
				if i%2 == 0 {
					err = f.Submit(write(i)).Err
				} else {
					_, err = f.ReadIndex(context.Background())
				}
				if err != nil && !errors.Is(err, api.ErrShuttingDown) && !errors.Is(err, api.ErrIndeterminate) {
					t.Errorf("while closing: %v, want shutting_down or indeterminate", err)
					return
				}
			}
		}()
	}
	for l.writes.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	f.Close()
	closed.Store(true)
	wg.Wait()
	if o := f.Submit(write(1)); !errors.Is(o.Err, api.ErrShuttingDown) {
		t.Fatalf("write after Close: %+v", o)
	}
	if _, err := f.ReadIndex(context.Background()); !errors.Is(err, api.ErrShuttingDown) {
		t.Fatalf("read index after Close: %v", err)
	}
}

// The hold runs out with no leader: no_leader, which promises nothing.
func TestNoLeaderWithinTheHold(t *testing.T) {
	f := newForwarder(t, newFakeNode(), 200*time.Millisecond)
	if o := f.Submit(write(1)); !errors.Is(o.Err, api.ErrNoLeader) {
		t.Fatalf("%+v", o)
	}
}

// A read index the frozen leader never sends is asked of the next leader;
// reads waiting together share one request.
func TestReadIndexThatNeverArrivesIsAskedOfTheNextLeader(t *testing.T) {
	frozen := make(chan struct{})
	old := newFakeLeader(t, func(http.ResponseWriter, *http.Request, *BatchRequest) { <-frozen })
	t.Cleanup(func() { close(frozen) }) // before the server's Close, which waits for its handlers
	next := newFakeLeader(t, echo)
	n := newFakeNode()
	n.setLeader("old", old.URL, false)
	f := newForwarder(t, n, time.Minute)
	results := make(chan error, 5)
	for range 5 {
		go func() {
			idx, err := f.ReadIndex(context.Background())
			if err == nil && idx != 42 {
				err = fmt.Errorf("index %d", idx)
			}
			results <- err
		}()
	}
	// Every read waits (one in the round stuck on the old leader, the
	// others for the next round) before the leader changes: on a busy
	// machine a goroutine may start late, and a read that begins after a
	// round ends rightly gets a round of its own.
	for old.reads.Load() == 0 || f.readIndex.Callers() < 5 {
		time.Sleep(time.Millisecond)
	}
	n.setLeader("next", next.URL, false)
	for range 5 {
		select {
		case err := <-results:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a read still waits for the frozen leader")
		}
	}
	if r := next.reads.Load(); r < 1 || r > 2 {
		t.Fatalf("%d read-index requests for 5 waiting reads", r)
	}
}

// ToLeader: a write whose connection breaks after sending is indeterminate
// and never sent again; a read is sent again.
func TestToLeaderResendsReadsButNotWrites(t *testing.T) {
	var got atomic.Int64
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1) > 3 {
			w.Write([]byte(`{"ok":true}`))
			return
		}
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // the request arrived; the answer never does
	}))
	t.Cleanup(broken.Close)
	n := newFakeNode()
	n.setLeader("l", broken.URL, false)
	f := newForwarder(t, n, time.Minute)
	if _, err := f.ToLeader(context.Background(), Request{Method: http.MethodPut, Path: "/registry-svc/instance", Body: []byte(`{}`)}, false); !errors.Is(err, api.ErrIndeterminate) || got.Load() != 1 {
		t.Fatalf("write: %v after %d sends", err, got.Load())
	}
	resp, err := f.ToLeader(context.Background(), Request{Method: http.MethodGet, Path: "/registry-svc/instances"}, false)
	if err != nil || resp.Status != 200 || got.Load() != 4 {
		t.Fatalf("read: %v %v after %d sends", resp, err, got.Load())
	}
	n.setLeader("me", "", true)
	if _, err := f.ToLeader(context.Background(), Request{Method: http.MethodGet}, false); !errors.Is(err, ErrUsualPath) {
		t.Fatalf("on the leader: %v", err)
	}
}

// Status batches are conditional: after an indeterminate answer they are
// sent again, and on the leader they are applied locally.
func TestProposeStatusesSendsAgainAfterIndeterminate(t *testing.T) {
	var calls atomic.Int64
	l := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			refuse(api.CodeIndeterminate)(w, r, nil)
			return
		}
		w.Write([]byte(`{"applied":["i"]}`))
	}))
	t.Cleanup(l.Close)
	n := newFakeNode()
	n.setLeader("l", l.URL, false)
	f := newForwarder(t, n, time.Minute)
	us := []api.StatusUpdate{{ID: "i", Status: api.StatusHealthy, At: time.Now()}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.ProposeStatuses(ctx, us); err != nil || calls.Load() != 2 {
		t.Fatalf("%v after %d calls", err, calls.Load())
	}
	n.setLeader("me", "", true)
	if err := f.ProposeStatuses(ctx, us); err != nil || n.applies.Load() != 1 {
		t.Fatalf("on the leader: %v, %d applies", err, n.applies.Load())
	}
}

// A batch holds at most fsm.MaxBatch writes and MaxBatchBytes of them, and
// always at least one (a large write goes alone).
func TestBatchesAreCutByCountAndBytes(t *testing.T) {
	q := func(sizes ...int) []*pending {
		var out []*pending
		for _, s := range sizes {
			out = append(out, &pending{size: s})
		}
		return out
	}
	for _, tc := range []struct {
		queue []*pending
		want  int
	}{
		{q(), 0},
		{q(100, 100, 100), 3},
		{q(MaxBatchBytes/2, MaxBatchBytes/2, 1), 2},
		{q(MaxBatchBytes*2, 1), 1},
		{q(1, MaxBatchBytes), 1},
		{q(make([]int, 2000)...), fsm.MaxBatch},
	} {
		if got := batchLen(tc.queue); got != tc.want {
			t.Errorf("batchLen of %d writes: %d, want %d", len(tc.queue), got, tc.want)
		}
	}
}

// The leader's commit point on its answers (a read index, a batch) reaches
// LearnCommit; a missing or malformed one does not.
func TestTheLeadersCommitPointReachesLearnCommit(t *testing.T) {
	var point atomic.Value // the CommitHeader value the fake leader sends
	l := newFakeLeader(t, func(w http.ResponseWriter, r *http.Request, req *BatchRequest) {
		if v, _ := point.Load().(string); v != "" {
			w.Header().Set(CommitHeader, v)
		}
		echo(w, r, req)
	})
	n := newFakeNode()
	n.setLeader("l", l.URL, false)
	type told struct{ term, commit uint64 }
	learnt := make(chan told, 16)
	f := New(Config{Node: n, HTTP: &http.Client{}, Hold: 5 * time.Second, LearnCommit: func(term, commit uint64) {
		learnt <- told{term, commit}
	}})
	t.Cleanup(f.Close)
	for _, c := range []struct {
		header string
		want   *told
	}{
		{FormatCommitPoint(3, 41), &told{3, 41}},
		{"", nil},
		{"3", nil},
		{"3/", nil},
		{"0/41", nil},
		{"3/0", nil},
		{"-3/41", nil},
		{"3/41/5", nil},
		{"3/18446744073709551616", nil},
	} {
		point.Store(c.header)
		for _, via := range []string{"read index", "batch"} {
			if via == "read index" {
				if _, err := f.ReadIndex(t.Context()); err != nil {
					t.Fatal(err)
				}
			} else if o := f.Submit(write(1)); o.Err != nil {
				t.Fatal(o.Err)
			}
			select {
			case got := <-learnt:
				if c.want == nil || got != *c.want {
					t.Errorf("%s with %s %q: told %+v, want %+v", via, CommitHeader, c.header, got, c.want)
				}
			default:
				if c.want != nil {
					t.Errorf("%s with %s %q: LearnCommit not called", via, CommitHeader, c.header)
				}
			}
		}
	}
}
