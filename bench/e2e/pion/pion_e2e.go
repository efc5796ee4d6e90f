// pion_e2e: the Pion adapter of the end-to-end benchmark (bench/e2e/PROTOCOL.md is the contract).
//
//	pion_e2e --mode t1 --role offerer|answerer --bytes N --msg-size M [--high H] [--low L]
//	pion_e2e --mode t2 --runs R
//	pion_e2e --mode t3 --connections C
//
// Every mode accepts --bind ADDR (gather a host candidate on that address only) and --timeout S
// (deadline for the whole run). stdout carries JSON lines only; logs go to stderr.
//
// Pion is github.com/pion/webrtc/v3 as packaged by Debian (golang-github-pion-webrtc.v3-dev),
// built offline in GOPATH mode by build.sh beside this file.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/logging"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"
)

// Set by build.sh (-ldflags -X) to the Debian package version.
var pionVersion = "unknown"

const (
	socketBuffer = 4 << 20 // requested SO_RCVBUF/SO_SNDBUF of every UDP socket
	sctpMTU      = 1228    // Pion's SCTP packet size (sctp initialMTU): 1200 B of data per chunk
	pionMaxSend  = 65536   // Pion's largest outgoing message (sctp defaultMaxMessageSize)
	runTimeout   = 10 * time.Second
)

var stdoutMu sync.Mutex

// emit prints one JSON line on stdout (os.Stdout is unbuffered: it is flushed at once).
func emit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		fail("json: %v", err)
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	if _, err := os.Stdout.Write(append(b, '\n')); err != nil {
		fail("stdout: %v", err)
	}
}

func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "pion_e2e: "+format+"\n", args...)
}

// fail ends the process with a message on stderr and a non-zero status.
func fail(format string, args ...interface{}) {
	logf("error: "+format, args...)
	os.Exit(1)
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// vmRSS is this process's resident set size in bytes, from /proc/self/status.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fail("read /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				fail("VmRSS: %v", err)
			}
			return kb * 1024
		}
	}
	fail("no VmRSS in /proc/self/status")
	return 0
}

func readSysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/net/core/" + name)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// bufferedNet is Pion's standard network layer, except that every UDP socket Pion opens gets
// larger kernel buffers (Pion has no setting for them; SettingEngine.SetNet lets us wrap it).
type bufferedNet struct {
	*stdnet.Net
	logOnce sync.Once
}

func (n *bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	if err := c.SetReadBuffer(socketBuffer); err != nil {
		logf("SetReadBuffer: %v", err)
	}
	if err := c.SetWriteBuffer(socketBuffer); err != nil {
		logf("SetWriteBuffer: %v", err)
	}
	n.logOnce.Do(func() { logSocketBuffers(c) })
	return c, nil
}

// logSocketBuffers reports what the kernel granted (it caps at net.core.rmem_max/wmem_max and
// reports twice the value set).
func logSocketBuffers(c transport.UDPConn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		rcv, _ := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		snd, _ := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		logf("UDP socket %s: SO_RCVBUF %d, SO_SNDBUF %d (kernel values, twice the usable size)", c.LocalAddr(), rcv, snd)
	})
}

type options struct {
	mode, role, bind string
	bytes, msgSize   int64
	high, low        uint64
	runs, conns      int
	timeout          time.Duration
}

// newAPI builds the Pion API every mode uses: IPv4 UDP host candidates only (on --bind if given),
// no mDNS, no STUN/TURN (none configured), 4 MiB socket buffers; detach enables detached data
// channels (t1 only).
func newAPI(o *options, detach bool) *webrtc.API {
	var se webrtc.SettingEngine
	sn, err := stdnet.NewNet()
	if err != nil {
		fail("stdnet: %v", err)
	}
	se.SetNet(&bufferedNet{Net: sn})
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Pion's default logger writes to stdout, which carries only JSON lines here.
	lf := logging.NewDefaultLoggerFactory()
	lf.Writer = os.Stderr
	se.LoggerFactory = lf
	if o.bind != "" {
		ip := net.ParseIP(o.bind)
		se.SetIPFilter(func(a net.IP) bool { return a.Equal(ip) })
		se.SetIncludeLoopbackCandidate(ip.IsLoopback())
	}
	if detach {
		se.DetachDataChannels()
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

func configText(o *options) string {
	where := "every non-loopback IPv4 address"
	if o.bind != "" {
		where = o.bind + " only (SettingEngine.SetIPFilter)"
	}
	s := fmt.Sprintf("Pion webrtc v3 (Debian golang-github-pion-webrtc.v3-dev %s), %s; "+
		"UDP4 host candidates on %s, mDNS disabled, no STUN/TURN; "+
		"UDP sockets SO_RCVBUF/SO_SNDBUF %d B requested (SetReadBuffer/SetWriteBuffer through a wrapped "+
		"transport.Net, SettingEngine.SetNet; kernel caps at net.core.rmem_max=%s wmem_max=%s); "+
		"SCTP defaults: MTU %d B, receive buffer 1 MiB, max message %d B",
		pionVersion, runtime.Version(), where, socketBuffer, readSysctl("rmem_max"), readSysctl("wmem_max"),
		sctpMTU, pionMaxSend)
	switch o.mode {
	case "t1":
		s += fmt.Sprintf("; t1: non-trickle, detached data channels (SettingEngine.DetachDataChannels: "+
			"the receiver reads with its own buffer, Pion's OnMessage path closes the channel on a message over 65535 B), "+
			"flow control high %d low %d via BufferedAmount/OnBufferedAmountLow", o.high, o.low)
	default:
		s += "; " + o.mode + ": in-process signaling with trickle ICE (OnICECandidate -> AddICECandidate), " +
			"Pion's default ICE timers"
	}
	return s
}

// lineReader turns stdin into parsed JSON objects.
func lineReader() <-chan map[string]interface{} {
	ch := make(chan map[string]interface{}, 16)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if len(strings.TrimSpace(sc.Text())) == 0 {
				continue
			}
			var m map[string]interface{}
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				fail("bad stdin line %q: %v", sc.Text(), err)
			}
			ch <- m
		}
		close(ch)
	}()
	return ch
}

// expect waits for the next stdin object of type want.
func expect(in <-chan map[string]interface{}, want string) map[string]interface{} {
	for m := range in {
		if m["type"] == want {
			return m
		}
		logf("ignoring stdin line of type %v while waiting for %s", m["type"], want)
	}
	fail("stdin closed while waiting for %s", want)
	return nil
}

// ---- t1 ----

// t1 runs one side of the throughput test; the offerer sends, the answerer receives.
func t1(o *options) {
	api := newAPI(o, true)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		fail("NewPeerConnection: %v", err)
	}
	done := make(chan struct{}) // closed once this side has its result
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		logf("connection %s", s)
		// Fail fast while the transfer needs the connection; later only the result matters.
		if s == webrtc.PeerConnectionStateFailed && !transferOver.Load() {
			fail("connection failed")
		}
	})
	in := lineReader()

	if o.role == "offerer" {
		dc, err := pc.CreateDataChannel("t1", nil) // reliable, ordered
		if err != nil {
			fail("CreateDataChannel: %v", err)
		}
		dc.OnOpen(func() { go sender(o, dc, detach(dc), in, done) })
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			fail("CreateOffer: %v", err)
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(offer); err != nil {
			fail("SetLocalDescription: %v", err)
		}
		<-gathered
		emit(map[string]string{"type": "offer", "sdp": pc.LocalDescription().SDP})
		answer := expect(in, "answer")
		sdp, _ := answer["sdp"].(string)
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
			fail("SetRemoteDescription: %v", err)
		}
	} else {
		pc.OnDataChannel(func(dc *webrtc.DataChannel) {
			dc.OnOpen(func() {
				openCPU, openAt := cpuSeconds(), time.Now()
				go receiver(o, detach(dc), openCPU, openAt, done)
			})
		})
		offer := expect(in, "offer")
		sdp, _ := offer["sdp"].(string)
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
			fail("SetRemoteDescription: %v", err)
		}
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			fail("CreateAnswer: %v", err)
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(answer); err != nil {
			fail("SetLocalDescription: %v", err)
		}
		<-gathered
		emit(map[string]string{"type": "answer", "sdp": pc.LocalDescription().SDP})
	}
	<-done
	pc.Close()
}

// transferOver is set when the sender has queued everything or the receiver has everything.
var transferOver atomic.Bool

// detach must run inside OnOpen (Pion warns otherwise).
func detach(dc *webrtc.DataChannel) io.ReadWriteCloser {
	raw, err := dc.Detach()
	if err != nil {
		fail("Detach: %v", err)
	}
	return raw
}

func sender(o *options, dc *webrtc.DataChannel, raw io.ReadWriteCloser, in <-chan map[string]interface{}, done chan struct{}) {
	openCPU := cpuSeconds()
	// Drain the detached channel: Pion handles the DCEP ACK in its read path.
	go func() {
		buf := make([]byte, 1<<16)
		for {
			if _, err := raw.Read(buf); err != nil {
				return
			}
		}
	}()
	low := make(chan struct{}, 1)
	dc.SetBufferedAmountLowThreshold(o.low)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	msg := make([]byte, o.msgSize) // preallocated; only byte 0 changes per message
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	var sent int64
	for k := 0; sent < o.bytes; k++ {
		n := o.msgSize
		if o.bytes-sent < n {
			n = o.bytes - sent
		}
		// A stale wake-up only costs one more check; a missed one cannot happen since low is
		// buffered and the callback fires when the amount falls to the threshold.
		for dc.BufferedAmount()+uint64(n) > o.high {
			<-low
		}
		msg[0] = byte(k)
		if _, err := raw.Write(msg[:n]); err != nil {
			fail("send message %d: %v", k, err)
		}
		sent += n
	}
	transferOver.Store(true)
	logf("sender: %d bytes queued", sent)
	expect(in, "done")
	emit(map[string]interface{}{"type": "result", "role": "sender", "cpu_seconds": cpuSeconds() - openCPU})
	close(done)
}

func receiver(o *options, raw io.ReadWriteCloser, openCPU float64, openAt time.Time, done chan struct{}) {
	bufSize := o.msgSize + 1
	if bufSize < 1<<16 {
		bufSize = 1 << 16
	}
	buf := make([]byte, bufSize)
	var got, k int64
	ok := true
	var first, last time.Time
	for got < o.bytes {
		n, err := raw.Read(buf)
		if err != nil {
			fail("receive after %d bytes: %v", got, err)
		}
		last = time.Now()
		if k == 0 {
			first = last
		}
		if n == 0 || buf[0] != byte(k) {
			if ok {
				logf("receiver: message %d (%d B) starts with %d, want %d", k, n, buf[0], byte(k))
			}
			ok = false
		}
		got += int64(n)
		k++
	}
	cpu := cpuSeconds() - openCPU
	transferOver.Store(true)
	if got != o.bytes {
		ok = false
	}
	emit(map[string]interface{}{"type": "result", "role": "receiver", "bytes": got, "messages": k,
		"seconds": last.Sub(first).Seconds(), "open_to_done_seconds": last.Sub(openAt).Seconds(),
		"cpu_seconds": cpu, "ok": ok})
	close(done)
}

// ---- t2/t3: a pair of connections in this process ----

// peer is one connection with trickled candidates queued until its remote description is set.
type peer struct {
	pc        *webrtc.PeerConnection
	mu        sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit
}

func (p *peer) addCandidate(c webrtc.ICECandidateInit) {
	p.mu.Lock()
	if !p.remoteSet {
		p.pending = append(p.pending, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if err := p.pc.AddICECandidate(c); err != nil {
		logf("AddICECandidate: %v", err)
	}
}

func (p *peer) setRemote(d webrtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(d); err != nil {
		return err
	}
	p.mu.Lock()
	p.remoteSet = true
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, c := range pending {
		if err := p.pc.AddICECandidate(c); err != nil {
			return err
		}
	}
	return nil
}

// trickleTo forwards from's candidates to to as they are gathered. Delivered synchronously (Pion's
// AddICECandidate does not block): a goroutine hop makes it likelier that a connectivity check
// overtakes its candidate, and then Pion waits 1 s (PrflxAcceptanceMinWait) on the peer-reflexive pair.
func trickleTo(from, to *peer) {
	from.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			to.addCandidate(c.ToJSON())
		}
	})
}

type pair struct{ a, b *peer }

func (p *pair) close() {
	if p.a != nil {
		p.a.pc.Close()
	}
	if p.b != nil {
		p.b.pc.Close()
	}
}

// connect creates an offering and an answering connection, one data channel, and returns when
// the channel is open on both sides (or an error after runTimeout).
func connect(api *webrtc.API) (*pair, error) {
	p := &pair{}
	deadline := time.After(runTimeout)
	pcA, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return p, err
	}
	p.a = &peer{pc: pcA}
	dc, err := pcA.CreateDataChannel("t", nil)
	if err != nil {
		return p, err
	}
	openA, openB := make(chan struct{}), make(chan struct{})
	dc.OnOpen(func() { close(openA) })
	offer, err := pcA.CreateOffer(nil)
	if err != nil {
		return p, err
	}
	if err := pcA.SetLocalDescription(offer); err != nil {
		return p, err
	}

	pcB, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return p, err
	}
	p.b = &peer{pc: pcB}
	pcB.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnOpen(func() { close(openB) })
	})
	trickleTo(p.a, p.b)
	trickleTo(p.b, p.a)
	if err := p.b.setRemote(offer); err != nil {
		return p, err
	}
	answer, err := pcB.CreateAnswer(nil)
	if err != nil {
		return p, err
	}
	if err := pcB.SetLocalDescription(answer); err != nil {
		return p, err
	}
	if err := p.a.setRemote(answer); err != nil {
		return p, err
	}
	for _, ch := range []chan struct{}{openA, openB} {
		select {
		case <-ch:
		case <-deadline:
			return p, errors.New("channel not open on both sides within 10 s")
		}
	}
	return p, nil
}

func t2(o *options) {
	api := newAPI(o, false)
	ms := []float64{}
	failures := 0
	for run := -1; run < o.runs; run++ { // run -1 is the warm-up
		t0 := time.Now()
		p, err := connect(api)
		elapsed := time.Since(t0)
		p.close()
		switch {
		case err != nil && run >= 0:
			failures++
			logf("run %d: %v", run, err)
		case err != nil:
			logf("warm-up: %v", err)
		case run >= 0:
			ms = append(ms, float64(elapsed.Nanoseconds())/1e6)
		}
	}
	if len(ms) > 0 {
		s := append([]float64(nil), ms...)
		sort.Float64s(s)
		logf("t2: %d runs, median %.2f ms, max %.2f ms", len(s), s[len(s)/2], s[len(s)-1])
	}
	emit(map[string]interface{}{"type": "result", "ms": ms, "failures": failures})
}

func t3(o *options) {
	api := newAPI(o, false)
	warm, err := connect(api)
	warm.close()
	if err != nil {
		fail("warm-up pair: %v", err)
	}
	time.Sleep(time.Second)
	before := vmRSS()
	pairs := make([]*pair, 0, o.conns/2)
	connected := 0
	for i := 0; i < o.conns/2; i++ {
		p, err := connect(api)
		pairs = append(pairs, p)
		if err != nil {
			logf("pair %d: %v", i, err)
			continue
		}
		connected += 2
	}
	time.Sleep(2 * time.Second)
	after := vmRSS()
	emit(map[string]interface{}{"type": "result", "connections": o.conns, "connected": connected,
		"rss_before": before, "rss_after": after, "bytes_per_connection": float64(after-before) / float64(o.conns)})
	// Informational only: the same after a forced garbage collection.
	runtime.GC()
	logf("t3: VmRSS after runtime.GC(): %d (%.0f B/connection)", vmRSS(), float64(vmRSS()-before)/float64(o.conns))
	for _, p := range pairs {
		p.close()
	}
}

func main() {
	o := &options{}
	var timeoutS float64
	flag.StringVar(&o.mode, "mode", "", "t1|t2|t3")
	flag.StringVar(&o.role, "role", "", "t1: offerer (sender) | answerer (receiver)")
	flag.Int64Var(&o.bytes, "bytes", 0, "t1: bytes to transfer")
	flag.Int64Var(&o.msgSize, "msg-size", 65536, "t1: message size")
	flag.Uint64Var(&o.high, "high", 4194304, "t1: bufferedAmount high-water mark")
	flag.Uint64Var(&o.low, "low", 1048576, "t1: bufferedAmountLowThreshold")
	flag.IntVar(&o.runs, "runs", 100, "t2: measured runs")
	flag.IntVar(&o.conns, "connections", 1000, "t3: connections (pairs = connections/2)")
	flag.StringVar(&o.bind, "bind", "", "gather host candidates on this IPv4 address only")
	flag.Float64Var(&timeoutS, "timeout", 120, "deadline for the whole run, seconds")
	flag.Parse()
	o.timeout = time.Duration(timeoutS * float64(time.Second))
	if o.bind != "" && net.ParseIP(o.bind).To4() == nil {
		fail("--bind %q is not an IPv4 address", o.bind)
	}
	switch {
	case o.mode == "t1" && o.role != "offerer" && o.role != "answerer":
		fail("t1 needs --role offerer|answerer")
	case o.mode == "t1" && (o.bytes <= 0 || o.msgSize <= 0 || o.msgSize > pionMaxSend):
		fail("t1 needs --bytes > 0 and 0 < --msg-size <= %d", pionMaxSend)
	case o.mode == "t1" && uint64(o.msgSize) > o.high:
		fail("--msg-size exceeds --high")
	case o.mode == "t2" && o.runs <= 0, o.mode == "t3" && o.conns < 2:
		fail("t2 needs --runs > 0, t3 --connections >= 2")
	case o.mode != "t1" && o.mode != "t2" && o.mode != "t3":
		fail("--mode must be t1, t2 or t3")
	}
	// Every wait is covered by this deadline.
	time.AfterFunc(o.timeout, func() { fail("timeout after %v (mode %s)", o.timeout, o.mode) })

	cfg := configText(o)
	emit(map[string]string{"type": "config", "text": cfg})
	logf("config: %s", cfg)
	switch o.mode {
	case "t1":
		t1(o)
	case "t2":
		t2(o)
	case "t3":
		t3(o)
	}
}
