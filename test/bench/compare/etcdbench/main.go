// etcdbench -- load generator for an etcd cluster, the etcd side of
// `make bench-compare` (test/bench/compare/compare.sh). Same shape as
// coordbench and zkbench: S clients (one clientv3 client, i.e. one gRPC
// connection set, each, given every member's endpoint) x W requests in
// flight on each (W goroutines issuing synchronous calls on that client);
// every latency completed inside the measured window is kept and sorted;
// prints coordbench's --format=kv keys so one parser reads all three.
//
// Workloads: set (Put of a VALUE_SIZE value on a random key of a
// pre-written key space), get (linearizable Range), get-local
// (serializable Range, served by the member asked), create-delete (a Txn
// creating a unique key if absent, then a Delete; 2 ops), mix (READ_PCT %
// linearizable gets, the rest puts), failover-probe (one client to all
// members writes every 2 ms, then sends FAULT_SIGNAL to FAULT_PID itself
// and reports the time to the first successful write of that loop after
// it, failover_ms, each attempt bounded by --timeout-ms, default 5000 =
// etcdctl's --command-timeout; and writable_ms, the first success of any
// write: others are also sent every 10 ms without waiting).
//
// Built offline against Debian's golang-etcd-server-dev:
//   GO111MODULE=off GOPATH=/usr/share/gocode go build
// A measuring tool: it must not tune etcd or change what it measures.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
	"google.golang.org/grpc/grpclog"
)

type pidList []int

func (p *pidList) String() string { return fmt.Sprint(*p) }
func (p *pidList) Set(s string) error {
	var v int
	_, err := fmt.Sscanf(s, "%d", &v)
	*p = append(*p, v)
	return err
}

var (
	servers   = flag.String("servers", "127.0.0.1:2379", "host:port,...")
	conns     = flag.Int("connections", 1, "clients")
	window    = flag.Int("outstanding", 1, "requests in flight per client")
	opName    = flag.String("op", "set", "set|get|get-local|create-delete|mix|failover-probe")
	readPct   = flag.Int("read-pct", 90, "mix: percentage of reads")
	valueSize = flag.Int("value-size", 128, "bytes")
	keys      = flag.Int("keys", 1000, "key space")
	duration  = flag.Float64("duration", 10, "window seconds (probe: give up after)")
	warmup    = flag.Float64("warmup", 2, "seconds before the window (probe: writes before the fault)")
	format    = flag.String("format", "text", "text|kv")
	prefix    = flag.String("prefix", "/etcdbench", "key prefix")
	timeoutMs = flag.Int("timeout-ms", 5000, "per-request timeout")
	faultPid  = flag.Int("fault-pid", 0, "probe: process to signal")
	faultSig  = flag.String("fault-signal", "KILL", "probe: KILL|STOP")
	pids      pidList
)

const (
	phWarmup = iota
	phMeasure
	phStop
)

var phase int32

type worker struct {
	lat     []time.Duration
	errs    uint64
	deletes uint64
}

func endpoints() []string {
	var eps []string
	for _, s := range strings.Split(*servers, ",") {
		eps = append(eps, "http://"+s)
	}
	return eps
}

func newClient() *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints(),
		DialTimeout: 10 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdbench: connect:", err)
		os.Exit(1)
	}
	return c
}

func serverTicks() int64 {
	var sum int64
	for _, p := range pids {
		b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return -1
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		var ut, st int64
		fmt.Sscan(f[11], &ut)
		fmt.Sscan(f[12], &st)
		sum += ut + st
	}
	return sum
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ctxT() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(),
		time.Duration(*timeoutMs)*time.Millisecond)
}

// one request of the workload; returns the number of ops completed
// (create-delete records the create and the delete separately).
func (w *worker) step(c *clientv3.Client, r *rand.Rand, id string, seq *int, val string) {
	rec := func(t0 time.Time, err error) bool {
		if err != nil {
			w.errs++
			return false
		}
		if atomic.LoadInt32(&phase) == phMeasure {
			w.lat = append(w.lat, time.Since(t0))
		}
		return true
	}
	key := fmt.Sprintf("%s/k%d", *prefix, r.Intn(*keys))
	op := *opName
	if op == "mix" {
		if r.Intn(100) < *readPct {
			op = "get"
		} else {
			op = "set"
		}
	}
	ctx, cancel := ctxT()
	defer cancel()
	t0 := time.Now()
	switch op {
	case "set":
		_, err := c.Put(ctx, key, val)
		rec(t0, err)
	case "get":
		_, err := c.Get(ctx, key)
		rec(t0, err)
	case "get-local":
		_, err := c.Get(ctx, key, clientv3.WithSerializable())
		rec(t0, err)
	case "create-delete":
		*seq++
		k := fmt.Sprintf("%s/c-%s-%d", *prefix, id, *seq)
		cmp := clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
		resp, err := c.Txn(ctx).If(cmp).Then(clientv3.OpPut(k, val)).Commit()
		if err == nil && !resp.Succeeded {
			err = fmt.Errorf("exists")
		}
		if !rec(t0, err) {
			return
		}
		t1 := time.Now()
		_, err = c.Delete(ctx, k)
		if rec(t1, err) && atomic.LoadInt32(&phase) == phMeasure {
			w.deletes++
		}
	}
}

func quant(v []time.Duration, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q*float64(len(v)) + 0.999999)
	if i < 1 {
		i = 1
	}
	if i > len(v) {
		i = len(v)
	}
	return float64(v[i-1].Nanoseconds()) / 1e3
}

type kvOut struct{ parts []string }

func (o *kvOut) add(k, f string, a ...interface{}) {
	o.parts = append(o.parts, k+"="+fmt.Sprintf(f, a...))
}

func (o *kvOut) print() {
	if *format == "kv" {
		fmt.Println(strings.Join(o.parts, " "))
		return
	}
	for _, p := range o.parts {
		kv := strings.SplitN(p, "=", 2)
		fmt.Printf("%-24s %s\n", kv[0], kv[1])
	}
}

func setup(c *clientv3.Client, val string) {
	if *opName == "create-delete" {
		return
	}
	var wg sync.WaitGroup
	var bad int32
	sem := make(chan struct{}, 64)
	for k := 0; k < *keys; k++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(k int) {
			defer wg.Done()
			ctx, cancel := ctxT()
			if _, err := c.Put(ctx, fmt.Sprintf("%s/k%d", *prefix, k), val); err != nil {
				atomic.StoreInt32(&bad, 1)
			}
			cancel()
			<-sem
		}(k)
	}
	wg.Wait()
	if bad != 0 {
		fmt.Fprintln(os.Stderr, "etcdbench: writing the key space failed")
		os.Exit(1)
	}
}

func runLoad() {
	val := strings.Repeat("v", *valueSize)
	clients := make([]*clientv3.Client, *conns)
	for i := range clients {
		clients[i] = newClient()
	}
	setup(clients[0], val)
	var wg sync.WaitGroup
	workers := make([]*worker, *conns**window)
	for i := range workers {
		workers[i] = &worker{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := workers[i]
			r := rand.New(rand.NewSource(int64(i)*7919 + time.Now().UnixNano()))
			id := fmt.Sprintf("%d-%d", os.Getpid(), i)
			seq := 0
			c := clients[i%*conns]
			for atomic.LoadInt32(&phase) != phStop {
				w.step(c, r, id, &seq, val)
			}
		}(i)
	}
	time.Sleep(time.Duration(*warmup * float64(time.Second)))
	t0 := serverTicks()
	c0 := selfCPU()
	w0 := time.Now()
	atomic.StoreInt32(&phase, phMeasure)
	time.Sleep(time.Duration(*duration * float64(time.Second)))
	atomic.StoreInt32(&phase, phStop)
	secs := time.Since(w0).Seconds()
	t1 := serverTicks()
	cli := selfCPU() - c0
	wg.Wait()
	for _, c := range clients {
		c.Close()
	}
	var all []time.Duration
	var errs, deletes uint64
	for _, w := range workers {
		all = append(all, w.lat...)
		errs += w.errs
		deletes += w.deletes
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	o := &kvOut{}
	o.add("system", "etcd")
	o.add("op", "%s", *opName)
	if *opName == "mix" {
		o.add("read_pct", "%d", *readPct)
	}
	o.add("conns", "%d", *conns)
	o.add("window", "%d", *window)
	o.add("value_bytes", "%d", *valueSize)
	o.add("secs", "%.2f", secs)
	o.add("ops", "%d", len(all))
	o.add("ops_per_s", "%.0f", float64(len(all))/secs)
	if *opName == "create-delete" {
		o.add("pairs_per_s", "%.0f", float64(deletes)/secs)
	}
	o.add("p50_us", "%.1f", quant(all, 0.5))
	o.add("p90_us", "%.1f", quant(all, 0.9))
	o.add("p99_us", "%.1f", quant(all, 0.99))
	o.add("p999_us", "%.1f", quant(all, 0.999))
	o.add("max_us", "%.1f", quant(all, 1))
	o.add("errors", "%d", errs)
	ops := float64(len(all))
	if ops == 0 {
		ops = 1
	}
	if t0 >= 0 && t1 >= 0 && len(pids) > 0 {
		us := float64(t1-t0) * 1e6 / 100 // USER_HZ is 100 on Linux
		o.add("server_cpu_us_per_op", "%.2f", us/ops)
		o.add("server_cpu_pct", "%.0f", us/1e4/secs)
	} else {
		o.add("server_cpu_us_per_op", "n/a")
	}
	o.add("server_fsyncs_per_op", "n/a")
	o.add("client_cpu_us_per_op", "%.2f", float64(cli.Microseconds())/ops)
	o.print()
}

func runProbe() {
	c := newClient()
	key := *prefix + "/fo"
	end := time.Now().Add(time.Duration(*warmup * float64(time.Second)))
	for {
		ctx, cancel := ctxT()
		_, err := c.Put(ctx, key, "x")
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "etcdbench: probe put before the fault:", err)
			os.Exit(1)
		}
		if time.Now().After(end) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	sig := syscall.SIGKILL
	if *faultSig == "STOP" {
		sig = syscall.SIGSTOP
	}
	t0 := time.Now()
	if err := syscall.Kill(*faultPid, sig); err != nil {
		fmt.Fprintln(os.Stderr, "etcdbench: kill:", err)
		os.Exit(1)
	}
	// Alongside the loop: a write every 10 ms, none waiting for another;
	// the first success of any write tells when the cluster took writes
	// again (writable_ms), whatever the loop's request was stuck on.
	var firstOK int64 // UnixNano of the first success, 0 none
	var done int32
	noteOK := func() {
		atomic.CompareAndSwapInt64(&firstOK, 0, time.Now().UnixNano())
	}
	go func() {
		for atomic.LoadInt32(&done) == 0 && atomic.LoadInt64(&firstOK) == 0 {
			go func() {
				ctx, cancel := ctxT()
				if _, err := c.Put(ctx, key, "z"); err == nil {
					noteOK()
				}
				cancel()
			}()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	tries := 0
	limit := t0.Add(time.Duration(*duration * float64(time.Second)))
	for {
		tries++
		ctx, cancel := ctxT()
		_, err := c.Put(ctx, key, "y")
		cancel()
		if err == nil {
			noteOK()
			break
		}
		if time.Now().After(limit) {
			fmt.Printf("system=etcd op=failover-probe failover_ms=timeout tries=%d\n", tries)
			os.Exit(1)
		}
		time.Sleep(2 * time.Millisecond)
	}
	ms := float64(time.Since(t0).Microseconds()) / 1e3
	atomic.StoreInt32(&done, 1)
	wms := float64(atomic.LoadInt64(&firstOK)-t0.UnixNano()) / 1e6
	if wms > ms {
		wms = ms
	}
	fmt.Printf("system=etcd op=failover-probe signal=%d failover_ms=%.1f writable_ms=%.1f tries=%d\n",
		int(sig), ms, wms, tries)
	c.Close()
}

func main() {
	flag.Var(&pids, "server-pid", "server process for CPU per op (repeatable)")
	flag.Parse()
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(ioutil.Discard, ioutil.Discard, os.Stderr))
	if *opName == "failover-probe" {
		if *faultPid <= 0 {
			fmt.Fprintln(os.Stderr, "etcdbench: --fault-pid required")
			os.Exit(2)
		}
		runProbe()
		return
	}
	switch *opName {
	case "set", "get", "get-local", "create-delete", "mix":
	default:
		fmt.Fprintln(os.Stderr, "etcdbench: unknown op", *opName)
		os.Exit(2)
	}
	runLoad()
}
