package backoffice

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// BenchmarkIngest uploads batches of 100 punches over real HTTP, each batch
// one request, from one kiosk at a time (serial) and from 8 kiosks at once
// (parallel). The durable commit of every batch is included.
func BenchmarkIngest(b *testing.B) {
	for _, kiosks := range []int{1, 8} {
		b.Run(fmt.Sprintf("kiosks=%d", kiosks), func(b *testing.B) {
			e := newEnv(b, ServerOptions{})
			tokens := make([]string, kiosks)
			for i := range tokens {
				_, tokens[i] = e.enroll()
			}
			emps := []Employee{e.ana, e.ben, e.carla}
			const perBatch = 100
			bodies := make([][]byte, b.N)
			for i := range bodies {
				ps := make([]protocol.Punch, perBatch)
				for j := range ps {
					// Times move forward, as on a real site.
					n := i*perBatch + j
					ps[j] = newPunch(emps[j%3], int64(n+1), punch.In, n) // seq counts from 1
				}
				bodies[i], _ = json.Marshal(protocol.PunchBatch{Punches: ps})
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: kiosks}}
			next := make(chan int)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for k := range kiosks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						req, _ := http.NewRequest("POST", e.srv.URL+protocol.PathPunches, bytes.NewReader(bodies[i]))
						req.Header.Set("Authorization", "Bearer "+tokens[k])
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							continue
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
						}
					}
				}()
			}
			for i := range b.N {
				next <- i
			}
			close(next)
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*perBatch)/elapsed.Seconds(), "punches/s")
			if n := count(b, e.store, "punches"); n != b.N*perBatch {
				b.Fatalf("%d punches stored, want %d", n, b.N*perBatch)
			}
		})
	}
}

// BenchmarkCheckIn has 1,000 enrolled kiosks check in over their own
// keep-alive connections and reports the latency percentiles of single
// check-ins. "herd": one iteration is all 1,000 checking in at the same
// instant (the worst case, as after an outage; the last in line waits for
// the 999 before it). "steady": each kiosk checks in about once a second
// (0.5 to 1.5 s apart), 300 times a real fleet's load; one iteration is one
// such second per kiosk. cpu-ms/op is the CPU time the whole process
// (server and the simulated kiosks alike, on the same cores) spent per
// iteration, a figure that other work on the machine disturbs less than the
// latencies.
func BenchmarkCheckIn(b *testing.B) {
	const devices = 1000
	e := newEnv(b, ServerOptions{})
	tokens := make([]string, devices)
	var wg sync.WaitGroup
	code := e.code()
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, tok, err := e.store.Enroll(enrollRequest(code, uuid.NewString()), t0)
			if err != nil {
				b.Error(err)
			}
			tokens[i] = tok
		}()
	}
	wg.Wait()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: devices, MaxConnsPerHost: devices}}
	bodies := make([][]byte, devices)
	for i := range bodies {
		bodies[i], _ = json.Marshal(protocol.CheckIn{
			Version: "1.0.0", RosterVersion: "r4", Waiting: i % 3, DeviceTime: t0,
			BootID: fmt.Sprintf("boot-%d", i), BootTimeNS: int64(i) * int64(time.Second),
		})
	}
	checkIn := func(i int) time.Duration {
		t := time.Now()
		req, _ := http.NewRequest("POST", e.srv.URL+protocol.PathCheckIn, bytes.NewReader(bodies[i]))
		req.Header.Set("Authorization", "Bearer "+tokens[i])
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(t)
	}
	report := func(b *testing.B, lat []time.Duration, cpu time.Duration) {
		slices.Sort(lat)
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(pct(1), "max-ms")
		b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "checkins/s")
		if cpu > 0 {
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		}
	}
	// all runs f(i) for every kiosk at once and waits for them.
	all := func(f func(i int)) {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				f(i)
			}()
		}
		close(start)
		wg.Wait()
	}
	all(func(i int) { checkIn(i) }) // open the connections

	b.Run("herd", func(b *testing.B) {
		lat := make([]time.Duration, 0, devices*b.N)
		var mu sync.Mutex
		cpu0 := processCPU()
		for range b.N {
			all(func(i int) {
				d := checkIn(i)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			})
		}
		cpu := processCPU() - cpu0
		b.StopTimer()
		report(b, lat, cpu)
	})
	b.Run("steady", func(b *testing.B) {
		lat := make([]time.Duration, 0, devices*b.N)
		var mu sync.Mutex
		cpu0 := processCPU()
		all(func(i int) {
			rnd := rand.New(rand.NewPCG(uint64(i), 1))
			// Spread the first check-ins over a second.
			time.Sleep(time.Duration(rnd.Int64N(int64(time.Second))))
			for range b.N {
				d := checkIn(i)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				time.Sleep(500*time.Millisecond + time.Duration(rnd.Int64N(int64(time.Second))))
			}
		})
		cpu := processCPU() - cpu0
		b.StopTimer()
		report(b, lat, cpu)
	})

	// Every kiosk's latest check-in landed: the benchmark measured
	// check-ins that count.
	ds, err := e.store.Devices()
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range ds {
		if d.LastCheckIn.IsZero() || d.Version != "1.0.0" || d.RosterVersion != "r4" {
			b.Fatalf("device %s after the benchmark: %+v", d.ID, d)
		}
	}
}

// processCPU is the CPU time (user and system) this process has used, read
// from /proc; 0 where there is no /proc.
func processCPU() time.Duration {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and
	// may hold spaces; utime and stime are the 14th and 15th fields.
	_, rest, ok := bytes.Cut(stat, []byte(") "))
	if !ok {
		return 0
	}
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	// Linux reports clock ticks of USER_HZ, 100 a second on every
	// architecture it runs on.
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
