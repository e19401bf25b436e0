package firmware

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDownloadAndVerify: a 16 MiB release (siteclockd's size) taken
// from a source in memory into the download folder, synced and checked
// against its manifest's SHA-256: what an update costs the kiosk beside
// the network.
func BenchmarkDownloadAndVerify(b *testing.B) {
	bin := binary(16 << 20)
	m := manifestFor("2.0.0", "arm64", bin)
	dir := b.TempDir()
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		s, err := OpenStore(filepath.Join(dir, "fw"))
		if err != nil {
			b.Fatal(err)
		}
		part, err := s.Download(context.Background(), m, &memSource{bin: bin}, "/x", nil)
		if err != nil {
			b.Fatal(err)
		}
		os.Remove(part)
	}
}
