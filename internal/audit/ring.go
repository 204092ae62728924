package audit

import "sync/atomic"

// ring is a bounded multi-producer, single-consumer queue of records without a lock (D.
// Vyukov's bounded queue): a producer claims a slot with one compare-and-swap on the tail
// and publishes it with its sequence number; the Trail's goroutine is the only consumer.
type ring struct {
	slots []slot
	mask  uint64
	_     [56]byte // keep tail on its own cache line
	tail  atomic.Uint64
	_     [56]byte
	head  uint64 // the consumer's only
}

type slot struct {
	seq atomic.Uint64 // == position: free for the producer of position; == position+1: filled
	rec Record
}

// newRing returns a ring of at least n slots (a power of two, at least 2: with one slot a
// filled slot would look free to the next lap).
func newRing(n int) *ring {
	size := 2
	for size < n {
		size <<= 1
	}
	r := &ring{slots: make([]slot, size), mask: uint64(size - 1)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r
}

// push copies rec into a free slot; false when the ring is full.
func (q *ring) push(rec *Record) bool {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		switch d := int64(s.seq.Load() - pos); {
		case d == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.rec = *rec
				s.seq.Store(pos + 1)
				return true
			}
			pos = q.tail.Load()
		case d < 0:
			return false // the consumer has not freed this slot yet: full
		default:
			pos = q.tail.Load() // another producer took it
		}
	}
}

// pop copies the oldest filled record into dst; false when there is none (or its producer
// has not finished writing it).
func (q *ring) pop(dst *Record) bool {
	s := &q.slots[q.head&q.mask]
	if s.seq.Load() != q.head+1 {
		return false
	}
	*dst = s.rec
	s.rec = Record{} // drop references to the record's strings
	s.seq.Store(q.head + q.mask + 1)
	q.head++
	return true
}
