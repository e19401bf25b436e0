package backoffice

import (
	"crypto/ed25519"
	"sync"
	"testing"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// Uploads checked at the same time each get their own answers, whoever
// checks them: the pool, or the write that needs them first.
func TestSignatureChecksOfConcurrentUploads(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	const uploads, per = 8, 150
	batches := make([][]protocol.Punch, uploads)
	for u := range batches {
		for i := range per {
			w := k.next(newPunch(e.ben, 0, punch.In, u*per+i))
			switch i % 7 {
			case 3: // changed after it was signed
				w.EmployeeNumber = "9999"
			case 5: // a signature cut short
				w.Signature = w.Signature[:10]
			case 6:
				w.Signature = nil
			}
			batches[u] = append(batches[u], w)
		}
	}
	check := func(t *testing.T, b *sigBatch, ps []protocol.Punch) {
		t.Helper()
		for i, w := range ps {
			want := len(w.Signature) == 64 && w.Punch().Verify(k.key.Public().(ed25519.PublicKey))
			if b.ok[i] != want {
				t.Errorf("punch %d: ok %v, want %v", i, b.ok[i], want)
			}
			if (b.hash[i] != nil) != (len(w.Signature) > 0) {
				t.Errorf("punch %d: hash %x for signature %x", i, b.hash[i], w.Signature)
			}
		}
	}
	run := func(t *testing.T) {
		var wg sync.WaitGroup
		for u, ps := range batches {
			wg.Go(func() {
				b, err := e.store.signatures(dev, ps)
				if err != nil {
					t.Error(err)
					return
				}
				if u%2 == 0 {
					b.wait() // as a write would
				} else {
					<-b.done // the pool alone
				}
				check(t, b, ps)
			})
		}
		wg.Wait()
	}
	t.Run("pool", run)
	// An upload nobody needs any more is given up; the others go on.
	gone, err := e.store.signatures(dev, batches[0])
	if err != nil {
		t.Fatal(err)
	}
	gone.abandon()
	t.Run("after one given up", run)
	// With the pool stopped, a write checks its upload itself.
	e.store.verifier.close()
	b, err := e.store.signatures(dev, batches[1])
	if err != nil {
		t.Fatal(err)
	}
	b.wait()
	check(t, b, batches[1])
}
