package health

import "container/heap"

// dueQueue is a min-heap of targets by due time: one timer serves every
// check, however many instances a node owns.
type dueQueue []*target

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

// Push and Pop are heap.Interface's; use push and remove.
func (q *dueQueue) Push(x any) {
	t := x.(*target)
	t.index = len(*q)
	*q = append(*q, t)
}

func (q *dueQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	t.index = -1
	return t
}

func (q dueQueue) peek() *target { return q[0] }

func (q *dueQueue) push(t *target) {
	if t.index < 0 {
		heap.Push(q, t)
	}
}

// remove takes t out of the queue if it is queued.
func (q *dueQueue) remove(t *target) {
	if t.index >= 0 {
		heap.Remove(q, t.index)
	}
}
