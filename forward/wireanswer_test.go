package forward

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// randomAnswers draws a batch's answers: created instances (with strings
// json.Marshal escapes: quotes, brackets and backslashes inside strings),
// deregistrations' 204s and refusals.
func randomAnswers(r *rand.Rand) []Answer {
	out := make([]Answer, 1+r.IntN(30))
	refusals := r.IntN(3) == 0 // in a third of the batches
	for i := range out {
		switch r.IntN(6) {
		case 0:
			out[i] = Answer{Status: http.StatusNoContent}
		case 1:
			if !refusals {
				out[i] = Answer{Status: http.StatusNoContent}
				continue
			}
			out[i] = Answer{Status: http.StatusConflict, Error: &api.ErrorBody{Error: `url "x" {taken}`, Code: api.CodeConflict}}
		default:
			in := randomInstance(r)
			raw, err := MarshalInstance(in)
			if err != nil { // a time JSON cannot hold: the leader would answer an error
				in.LastHeartbeat = time.Time{}
				if raw, err = MarshalInstance(in); err != nil {
					out[i] = Answer{Status: http.StatusNoContent}
					continue
				}
			}
			out[i] = Answer{Status: http.StatusCreated, Instance: raw, Row: in} // either, by answersFrom
		}
	}
	return out
}

// answersFrom keeps, of each created instance randomAnswers drew, its row
// (as the leader holds it) or its bytes (as a follower reads them).
func answersFrom(drawn []Answer, rows bool) []Answer {
	out := make([]Answer, len(drawn))
	for i, a := range drawn {
		if rows {
			a.Instance = nil
		} else {
			a.Row = nil
		}
		out[i] = a
	}
	return out
}

// sameResults compares two decodings: statuses, errors, and each
// instance's bytes.
func sameResults(a, b BatchResponse) bool {
	if len(a.Results) != len(b.Results) {
		return false
	}
	for i := range a.Results {
		x, y := a.Results[i], b.Results[i]
		if x.Status != y.Status || !bytes.Equal(x.Instance, y.Instance) || !reflect.DeepEqual(x.Error, y.Error) {
			return false
		}
	}
	return true
}

// The leader's answers read the same by hand as through encoding/json;
// the hand path takes every answer without an error in it.
func TestBatchAnswersSplitAsEncodingJSONReadsThem(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	split := 0
	for range 5000 {
		drawn := randomAnswers(rng)
		answers, rows := answersFrom(drawn, false), answersFrom(drawn, true)
		body, err := AppendBatchResponse(nil, answers)
		if err != nil {
			t.Fatal(err)
		}
		// The leader hands rows, not their bytes: the same answer.
		if fromRows, err := AppendBatchResponse(nil, rows); err != nil || !bytes.Equal(fromRows, body) {
			t.Fatalf("from rows (%v):\n%s\nfrom their bytes:\n%s", err, fromRows, body)
		}
		var want BatchResponse
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		got, err := decodeBatchResponse(body)
		if err != nil || !sameResults(got, want) {
			t.Fatalf("%s:\nby hand %+v (%v)\nencoding/json %+v", body, got, err, want)
		}
		hasError := false
		for _, a := range answers {
			hasError = hasError || a.Error != nil
		}
		if _, ok := splitBatchResponse(body); ok == hasError {
			t.Fatalf("split by hand: %v, with a refusal in it: %v: %s", ok, hasError, body)
		}
		if !hasError {
			split++
		}
	}
	if split < 1000 {
		t.Fatalf("only %d answers took the hand path", split)
	}
}

// Whatever the leader's answer holds, the hand path never takes what
// encoding/json reads otherwise: bodies cut, with bytes changed, added or
// swapped, and forms it does not write. Where encoding/json reads a body
// the hand path took, both read the same; where encoding/json refuses
// one, only a malformed inside of an instance may pass the hand path (it
// checks the frame, not the instance's grammar), and never a frame that
// does not close.
func TestBatchAnswersOffTheUsualFormFallBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	forms := []string{
		`{"results":[]}`, `{"results":[{"status":201}]}`, ` {"results":[{"status":204}]}`,
		`{"results":[{"status":204} ]}`, `{"results":[{"status":2040}]}`, `{"results":[{"status":20}]}`,
		`{"results":[{"status":204,"instance":{}}]}`, `{"results":[{"status":201,"instance":{"a":"}"}}]}`,
		`{"results":[{"status":201,"instance":{"a":"\"}"}}]}`, `{"results":[{"status":201,"instance":{"a":[}]}}]}`,
		`{"results":[{"status":201,"instance":{"a":"` + "\n" + `"}}]}`, `{"results":[{"status":201,"instance":[1]}]}`,
		`{"results":[{"status":201,"instance":{"a":1}},]}`, `{"results":[{"status":201,"instance":{"a":1}}{"status":204}]}`,
		`{"results":[{"status":201,"instance":{"a":1}}]}x`, `{"results":[{"status":201,"instance":{"a":1]}]}`, `{"results":[{"status":201,"instance":{"a":1}]}`,
		`{"results":[{"status":201,"instance":{"a":"\\"}}]}`, `{"results":[{"status":201,"instance":{"a":{"b":[1,{"c":2}]}}}]}`,
	}
	const noise = "{}[]\",\\:0a \n"
	var bodies [][]byte
	for _, f := range forms {
		bodies = append(bodies, []byte(f))
	}
	for range 3000 {
		body, _ := AppendBatchResponse(nil, answersFrom(randomAnswers(rng), false))
		for range 5 {
			b := bytes.Clone(body)
			switch rng.IntN(4) {
			case 0:
				b = b[:rng.IntN(len(b))]
			case 1:
				b[rng.IntN(len(b))] = noise[rng.IntN(len(noise))]
			case 2:
				i := rng.IntN(len(b))
				b = append(b[:i], append([]byte{noise[rng.IntN(len(noise))]}, b[i:]...)...)
			case 3:
				i, j := rng.IntN(len(b)), rng.IntN(len(b))
				b[i], b[j] = b[j], b[i]
			}
			bodies = append(bodies, b)
		}
	}
	for _, b := range bodies {
		var want BatchResponse
		wantErr := json.Unmarshal(b, &want)
		got, ok := splitBatchResponse(b)
		switch {
		case ok && wantErr == nil && !sameResults(got, want):
			t.Fatalf("%s:\nby hand %+v\nencoding/json %+v", b, got, want)
		case ok && wantErr != nil:
			for _, a := range got.Results {
				if a.Instance != nil && (a.Instance[0] != '{' || a.Instance[len(a.Instance)-1] != '}') {
					t.Fatalf("%s: the hand path took instance %s", b, a.Instance)
				}
			}
		}
	}
	// The frame's own forms, one by one.
	for _, f := range forms {
		_, ok := splitBatchResponse([]byte(f))
		var r BatchResponse
		if ok && json.Unmarshal([]byte(f), &r) != nil {
			t.Errorf("the hand path took %s, which encoding/json refuses", f)
		}
	}
}
