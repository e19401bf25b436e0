package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdle runs a headless siteclockd with nothing to do for
// SITECLOCK_IDLE_SECONDS (default 60) and reports its resident memory and
// the share of one CPU it used. No busy polling means a share near zero.
func BenchmarkIdle(b *testing.B) {
	secs := 60
	if s := os.Getenv("SITECLOCK_IDLE_SECONDS"); s != "" {
		secs, _ = strconv.Atoi(s)
	}
	state := b.TempDir()
	importRoster(b, state, fastRoster)
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, siteclockd(b), "-headless", "-state", state, "-camera", "sim")
		in, _ := cmd.StdinPipe() // held open: the kiosk waits for keys
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second) // start-up is not idle
		pid := cmd.Process.Pid
		cpu0, t0 := cpuTime(b, pid), time.Now()
		time.Sleep(time.Duration(secs) * time.Second)
		cpu1, t1 := cpuTime(b, pid), time.Now()
		rss := rssKB(b, pid)
		in.Close()
		cancel()
		cmd.Wait()
		b.ReportMetric(float64(rss)/1024, "RSS-MB")
		b.ReportMetric(100*float64(cpu1-cpu0)/float64(t1.Sub(t0)), "CPU-%")
	}
}

// cpuTime is the user plus system time of pid.
func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name in parentheses; utime and stime are the
	// 14th and 15th fields of the line, in clock ticks (USER_HZ = 100).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func rssKB(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
