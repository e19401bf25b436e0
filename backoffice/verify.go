package backoffice

import (
	"crypto/ed25519"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// Checking the signatures of uploaded punches. A kiosk back from days
// offline sends hundreds of signed punches at once, and an ed25519 check
// (about 55 µs here) costs more than storing the punch. So the checks of
// every upload go to one pool of workers, one a core, which serves uploads
// in the order they came (the first is ready first, rather than all of
// them at the end), and the upload's write does not wait for them to
// start: what the write needs early, each punch's hash, is computed before
// it (a microsecond a punch), and the check results are needed only by the
// punch_chain rows, which the write adds last (chainWriter.flush). The
// checks and the database work of one upload thus overlap, and both cores
// have work while a single kiosk catches up.
//
// If the checks are not done when the write needs them, the writer checks
// the rest itself rather than wait idle. Writes queued behind it wait the
// while, as they would for any other write; the writer never checks
// another upload's signatures.

// sigChunk is how many signatures a worker (or the writer) takes at once.
const sigChunk = 8

// sigBatch is what is known of the signatures of one upload.
type sigBatch struct {
	// hash is each punch's hash (the SHA-256 of its message), nil for an
	// unsigned punch; ready when the batch is made.
	hash [][]byte
	// ok is whether each punch's signature is the device key's signature
	// of its message: complete once done is closed (wait).
	ok []bool

	key  ed25519.PublicKey
	msgs [][]byte // the messages of the punches in todo
	sigs [][]byte
	todo []int // the punches whose signature is to be checked

	next      atomic.Int64 // the start in todo of the next chunk to take
	remaining atomic.Int64 // signatures in todo not yet checked
	done      chan struct{}
}

// abandoned is where next is set when no one needs the rest of a batch.
const abandoned = 1 << 40

// signatures hashes the signed punches of an upload and hands their
// signature checks to the pool.
func (s *Store) signatures(deviceID string, ps []protocol.Punch) (*sigBatch, error) {
	b := &sigBatch{hash: make([][]byte, len(ps)), ok: make([]bool, len(ps)), done: make(chan struct{})}
	var signed bool
	for _, w := range ps {
		signed = signed || len(w.Signature) > 0
	}
	if signed {
		err := s.r.QueryRow(`SELECT public_key FROM devices WHERE id = ?`, deviceID).Scan(&b.key)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, s.wrap("read the key of device "+deviceID, err)
		}
	}
	for i, w := range ps {
		if len(w.Signature) == 0 {
			continue
		}
		msg := w.Punch().Message()
		b.hash[i] = punch.HashMessage(msg)
		// A malformed key or signature does not verify; it is not
		// checked.
		if len(b.key) == ed25519.PublicKeySize && len(w.Signature) == ed25519.SignatureSize {
			if b.msgs == nil {
				b.msgs, b.sigs = make([][]byte, len(ps)), make([][]byte, len(ps))
			}
			b.msgs[i], b.sigs[i] = msg, w.Signature
			b.todo = append(b.todo, i)
		}
	}
	b.remaining.Store(int64(len(b.todo)))
	if len(b.todo) == 0 {
		close(b.done)
		return b, nil
	}
	s.verifier.submit(b)
	return b, nil
}

// work checks one chunk of the batch's signatures that no one took yet,
// and reports whether there was one.
func (b *sigBatch) work() bool {
	start := b.next.Add(sigChunk) - sigChunk
	if start >= int64(len(b.todo)) {
		return false
	}
	end := min(start+sigChunk, int64(len(b.todo)))
	for _, i := range b.todo[start:end] {
		b.ok[i] = ed25519.Verify(b.key, b.msgs[i], b.sigs[i])
	}
	if b.remaining.Add(start-end) == 0 {
		close(b.done)
	}
	return true
}

// wait returns once every signature of the batch is checked, checking
// those no worker has taken yet itself.
func (b *sigBatch) wait() {
	for b.work() {
	}
	<-b.done
}

// abandon stops the workers from taking more of the batch: its write is
// over (it failed, or the store closed) and nothing will read the rest.
func (b *sigBatch) abandon() { b.next.Store(abandoned) }

// verifier is the pool of signature checkers, one a core.
type verifier struct {
	mu     sync.Mutex
	wake   *sync.Cond
	queue  []*sigBatch // batches with chunks left, oldest first
	closed bool
	wg     sync.WaitGroup
}

func newVerifier(workers int) *verifier {
	v := &verifier{}
	v.wake = sync.NewCond(&v.mu)
	for range workers {
		v.wg.Go(v.run)
	}
	return v
}

// submit queues a batch; once the pool is closed, it is left to its
// write.
func (v *verifier) submit(b *sigBatch) {
	v.mu.Lock()
	if !v.closed {
		v.queue = append(v.queue, b)
	}
	v.mu.Unlock()
	v.wake.Broadcast()
}

// run checks the oldest batch's signatures, a chunk at a time, until the
// pool closes.
func (v *verifier) run() {
	for {
		v.mu.Lock()
		for len(v.queue) == 0 && !v.closed {
			v.wake.Wait()
		}
		if v.closed {
			v.mu.Unlock()
			return
		}
		b := v.queue[0]
		v.mu.Unlock()
		if !b.work() {
			v.mu.Lock()
			if len(v.queue) > 0 && v.queue[0] == b {
				v.queue[0] = nil
				v.queue = v.queue[1:]
			}
			v.mu.Unlock()
		}
	}
}

// close stops the workers once they finish their chunks. A batch still
// waiting is checked by its write (wait), or by no one when its write
// never runs.
func (v *verifier) close() {
	v.mu.Lock()
	v.closed = true
	v.queue = nil
	v.mu.Unlock()
	v.wake.Broadcast()
	v.wg.Wait()
}
