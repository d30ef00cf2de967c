package boot

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"statelite/resolver"
)

var netipLoopback = netip.MustParseAddr("127.0.0.1")

// statsHook records pin/tftp's transfer statistics by file name.
type statsHook struct {
	mu   sync.Mutex
	ok   map[string]tftp.TransferStats
	cond *sync.Cond
}

func newStatsHook() *statsHook {
	h := &statsHook{ok: map[string]tftp.TransferStats{}}
	h.cond = sync.NewCond(&h.mu)
	return h
}

func (h *statsHook) OnSuccess(s tftp.TransferStats) {
	h.mu.Lock()
	h.ok[s.Filename] = s
	h.cond.Broadcast()
	h.mu.Unlock()
}

func (h *statsHook) OnFailure(tftp.TransferStats, error) {}

// wait returns the stats of name's successful transfer, waiting up to 5 s for the hook
// (the server reports after the client has its last block).
func (h *statsHook) wait(t *testing.T, name string) tftp.TransferStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		if s, ok := h.ok[name]; ok {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful transfer of %s reported", name)
		}
		h.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		h.mu.Lock()
	}
}

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// bootRecorder records OnBoot calls.
type bootRecorder struct {
	mu    sync.Mutex
	boots []string // node@token
}

func (b *bootRecorder) OnBoot(node, token string) {
	b.mu.Lock()
	b.boots = append(b.boots, node+"@"+token)
	b.mu.Unlock()
}

func (b *bootRecorder) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.boots...)
}

// running is a boot server serving TFTP on 127.0.0.1:0.
type running struct {
	f     *fixture
	srv   *Server
	addr  string
	hook  *statsHook
	clk   *clock
	boots *bootRecorder
}

func startTFTP(t testing.TB, f *fixture) *running {
	t.Helper()
	rt := &running{f: f, hook: newStatsHook(), clk: &clock{t: time.Date(2026, 11, 25, 21, 3, 5, 0, time.UTC)}, boots: &bootRecorder{}}
	res := resolver.New(f.snap, resolver.Config{Mnt: "/mnt/sl"})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(conn.LocalAddr().String())
	srv, err := New(Config{
		Resolver: func() *resolver.Resolver { return res },
		TFTPRoot: f.tftproot, NFSPort: 2049, TFTPPort: atoi(port),
		OnBoot: rt.boots.OnBoot, Now: rt.clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.srv, rt.addr = srv, conn.LocalAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.ServeTFTP(ctx, conn, rt.hook); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return rt
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// get fetches name over TFTP with blksize (0: none) and tsize; it returns the data, the
// announced tsize (-1 when none) and the error.
func (rt *running) get(name string, blksize int) ([]byte, int64, error) {
	c, err := tftp.NewClient(rt.addr)
	if err != nil {
		return nil, -1, err
	}
	c.SetTimeout(2 * time.Second)
	c.SetRetries(2)
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(true)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, -1, err
	}
	size := int64(-1)
	if n, ok := wt.(tftp.IncomingTransfer).Size(); ok {
		size = n
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), size, err
}

func TestTFTPBlksizeTsize(t *testing.T) {
	rt := startTFTP(t, newFixture(t, 300_000, nil))
	for _, bs := range []int{0, 1468, 8192} {
		got, size, err := rt.get(ImageFile(image, KernelName), bs)
		if err != nil {
			t.Fatalf("blksize %d: %v", bs, err)
		}
		if !bytes.Equal(got, rt.f.kernel) {
			t.Fatalf("blksize %d: kernel differs (%d bytes, want %d)", bs, len(got), len(rt.f.kernel))
		}
		if size != int64(len(rt.f.kernel)) {
			t.Errorf("blksize %d: tsize %d, want %d", bs, size, len(rt.f.kernel))
		}
		st := rt.hook.wait(t, ImageFile(image, KernelName))
		want := ""
		if bs > 0 {
			want = itoa(bs)
		}
		if st.Opts["blksize"] != want {
			t.Errorf("blksize %d: negotiated %q", bs, st.Opts["blksize"])
		}
		if st.Opts["tsize"] != itoa(len(rt.f.kernel)) {
			t.Errorf("blksize %d: server tsize option %q", bs, st.Opts["tsize"])
		}
		// blocks sent: the data blocks plus the OACK and the final (short or empty) block
		blk := 512
		if bs > 0 {
			blk = bs
		}
		if min := len(rt.f.kernel) / blk; st.DatagramsSent < min {
			t.Errorf("blksize %d: %d datagrams, want at least %d", bs, st.DatagramsSent, min)
		}
		rt.hook.mu.Lock()
		delete(rt.hook.ok, ImageFile(image, KernelName))
		rt.hook.mu.Unlock()
	}
	// A rendered configuration has a tsize too (an in-memory reader).
	cfg, size, err := rt.get("pxelinux.cfg/01-52-54-00-12-34-56", 1468)
	if err != nil || size != int64(len(cfg)) || !strings.Contains(string(cfg), "NODE=n1 ") {
		t.Errorf("config: %v tsize %d len %d\n%s", err, size, len(cfg), cfg)
	}
	// Files of the TFTP root, a symlink inside it included.
	for _, name := range []string{"pxelinux.0", "/pxelinux.0", "inside"} {
		b, _, err := rt.get(name, 1468)
		if err != nil || !bytes.Equal(b, pattern(42000, 3)) {
			t.Errorf("%s: %v (%d bytes)", name, err, len(b))
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestTFTPRefusals(t *testing.T) {
	rt := startTFTP(t, newFixture(t, 1000, nil))
	passwd, _ := os.ReadFile("/etc/passwd")
	for _, name := range []string{
		"missing-file", "pxelinux.cfg/01-00-00-00-00-00-99",
		"../etc/passwd", "../../../../etc/passwd", "sub/../../etc/passwd", "/etc/passwd",
		"escape", // a symlink in the TFTP root pointing out
		"sub",    // a directory
		"xcat/osimage/nosuch/kernel",
	} {
		b, _, err := rt.get(name, 0)
		if err == nil {
			t.Errorf("%q served (%d bytes)", name, len(b))
		}
		t.Logf("%q: %v", name, err)
		if len(passwd) > 0 && bytes.Contains(b, passwd[:min(len(passwd), 20)]) {
			t.Errorf("%q leaked /etc/passwd", name)
		}
	}
	// Write requests are refused and write nothing.
	c, err := tftp.NewClient(rt.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Second)
	c.SetRetries(1)
	rf, err := c.Send("pxelinux.cfg/new", "octet")
	if err == nil {
		_, err = rf.ReadFrom(strings.NewReader("DEFAULT evil\n"))
	}
	if err == nil {
		t.Error("write request accepted")
	} else if !strings.Contains(err.Error(), "write") {
		t.Logf("write refused: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rt.f.tftproot, "pxelinux.cfg", "new")); err == nil {
		t.Error("a write request created a file")
	}
}

func TestTFTPConfigsByMACAndAddress(t *testing.T) {
	f := newFixture(t, 1000, func(m map[string]string) {
		// n1's address is the loopback address the test client sends from.
		m["hosts"] = strings.Replace(m["hosts"], `"n1","10.0.0.11"`, `"n1","127.0.0.1"`, 1)
	})
	rt := startTFTP(t, f)
	get := func(name string) string {
		t.Helper()
		b, _, err := rt.get(name, 1468)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(b)
	}
	n1 := get("pxelinux.cfg/01-52-54-00-12-34-56")
	n2 := get("pxelinux.cfg/01-52-54-00-AB-CD-EF") // upper case: MACs match case-insensitively
	if n1 == n2 || !strings.Contains(n1, ":/nodes/n1/@") || !strings.Contains(n2, ":/nodes/n2/@") || !strings.Contains(n2, "NODE=n2 ") {
		t.Fatalf("two nodes by MAC:\n%s\n%s", n1, n2)
	}
	// n2's second interface (mac!host alias) finds n2 too.
	if alias := get("pxelinux.cfg/01-52-54-00-00-00-ee"); !strings.Contains(alias, "NODE=n2 ") {
		t.Errorf("alias MAC: %s", alias)
	}
	// The root= server is the local address the request arrived on when noderes names
	// none: here noderes names 10.0.0.2.
	if !strings.Contains(n1, "root=nfs:10.0.0.2:") {
		t.Errorf("root server: %s", n1)
	}
	// HEXIP, full and the prefixes pxelinux tries next.
	if s := get("pxelinux.cfg/0A00000C"); !strings.Contains(s, "NODE=n2 ") {
		t.Errorf("HEXIP of n2: %s", s)
	}
	for _, name := range []string{"pxelinux.cfg/7F000001", "pxelinux.cfg/7F00000", "pxelinux.cfg/7F00", "pxelinux.cfg/7", "pxelinux.cfg/7f0000"} {
		if s := get(name); !strings.Contains(s, "NODE=n1 ") {
			t.Errorf("%s: %s", name, s)
		}
	}
	// A prefix that is not the requester's never hands out another node's config.
	if b, _, err := rt.get("pxelinux.cfg/0A0000", 0); err == nil {
		t.Errorf("prefix of another node served:\n%s", b)
	}
	// By name, grub2 and iPXE.
	if s := get("pxelinux.cfg/n2"); !strings.Contains(s, "NODE=n2 ") {
		t.Errorf("by name: %s", s)
	}
	if s := get("/boot/grub2/grub.cfg-01-52-54-00-12-34-56"); !strings.HasPrefix(s, "#statelite") || !strings.Contains(s, "linux /xcat/osimage/") {
		t.Errorf("grub2 by MAC: %s", s)
	}
	if s := get("boot/grub2/grub.cfg-0A00000C"); !strings.Contains(s, "NODE=n2 ") {
		t.Errorf("grub2 by HEXIP: %s", s)
	}
	if s := get("xcat/xnba/nodes/n1"); !strings.HasPrefix(s, "#!ipxe\n") || !strings.Contains(s, "tftp://${next-server}:") {
		t.Errorf("ipxe: %s", s)
	}
	// boot → LOCALBOOT 0; offline → nothing; no chain row → the TFTP root's own file
	// (n5 has a hand-made one), else nothing.
	if s := get("pxelinux.cfg/01-52-54-00-00-00-03"); !strings.Contains(s, "\nLOCALBOOT 0\n") {
		t.Errorf("boot: %s", s)
	}
	if b, _, err := rt.get("pxelinux.cfg/01-52-54-00-00-00-04", 0); err == nil {
		t.Errorf("offline node got a config:\n%s", b)
	}
	if s := get("pxelinux.cfg/01-52-54-00-00-00-05"); s != "# n5's hand-made file\n" {
		t.Errorf("unmanaged node: %q", s)
	}
	if b, _, err := rt.get("pxelinux.cfg/0A00000F", 0); err == nil {
		t.Errorf("unmanaged node by HEXIP got:\n%s", b)
	}
	if s := get("pxelinux.cfg/default"); !strings.Contains(s, "LOCALBOOT") {
		t.Errorf("default: %s", s)
	}
}

// TestBootEvent: the several names a loader asks for within 10 s are one boot: one reset,
// one token; a fetch 10 s after the last one is a new boot with a new token.
func TestBootEvent(t *testing.T) {
	rt := startTFTP(t, newFixture(t, 1000, nil))
	token := func(cfg string) string {
		i := strings.Index(cfg, "/nodes/n1/@")
		if i < 0 {
			t.Fatalf("no token in\n%s", cfg)
		}
		return strings.SplitN(cfg[i+len("/nodes/n1/@"):], ":", 2)[0]
	}
	var toks []string
	for i, name := range []string{"pxelinux.cfg/01-52-54-00-12-34-56", "pxelinux.cfg/0A00000B", "pxelinux.cfg/n1", "boot/grub2/grub.cfg-01-52-54-00-12-34-56", "xcat/xnba/nodes/n1"} {
		b, _, err := rt.get(name, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		toks = append(toks, token(string(b)))
		rt.clk.Add(3 * time.Second) // 12 s in all, never 10 s between two fetches
		if i == 0 {
			// other nodes' fetches are their own boots
			if _, _, err := rt.get("pxelinux.cfg/n2", 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The kernel and initrd are not configurations.
	rt.get(ImageFile(image, KernelName), 0)
	if got := rt.boots.list(); len(got) != 2 || got[0] != "n1@20261125T210305Z" || got[1] != "n2@20261125T210308Z" {
		t.Fatalf("boots %v, want one for n1 and one for n2", got)
	}
	for _, tk := range toks {
		if tk != "20261125T210305Z" {
			t.Errorf("tokens within one boot differ: %v", toks)
		}
	}
	rt.clk.Add(10 * time.Second)
	b, _, err := rt.get("pxelinux.cfg/01-52-54-00-12-34-56", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := rt.boots.list()
	if len(got) != 3 || got[2] != "n1@20261125T210330Z" || token(string(b)) != "20261125T210330Z" {
		t.Errorf("second boot: %v, token %s", got, token(string(b)))
	}
	// Offline and unmanaged nodes do not boot through us.
	rt.get("pxelinux.cfg/01-52-54-00-00-00-04", 0)
	rt.get("pxelinux.cfg/01-52-54-00-00-00-05", 0)
	if len(rt.boots.list()) != 3 {
		t.Errorf("boots %v", rt.boots.list())
	}
}

// TestTFTPLiveTables: a configuration is rendered from the tables as they are at the
// request (a new resolver, as after a table switch, is used at once).
func TestTFTPLiveTables(t *testing.T) {
	f := newFixture(t, 1000, nil)
	g := newFixture(t, 1000, func(m map[string]string) {
		m["chain"] = strings.Replace(m["chain"], `"n1","statelite rhels8.6-x86_64-compute"`, `"n1","boot"`, 1)
	})
	var cur struct {
		sync.Mutex
		r *resolver.Resolver
	}
	cur.r = f.resolver()
	srv, err := New(Config{Resolver: func() *resolver.Resolver { cur.Lock(); defer cur.Unlock(); return cur.r }, TFTPRoot: f.tftproot, NFSPort: 2049})
	if err != nil {
		t.Fatal(err)
	}
	read := func() string {
		c, err := srv.open("pxelinux.cfg/n1", netipLoopback, netipLoopback)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if s := read(); !strings.Contains(s, "KERNEL ") {
		t.Fatalf("before: %s", s)
	}
	cur.Lock()
	cur.r = g.resolver()
	cur.Unlock()
	if s := read(); !strings.Contains(s, "LOCALBOOT 0") {
		t.Fatalf("after the switch: %s", s)
	}
}

func TestHTTP(t *testing.T) {
	f := newFixture(t, 200_000, nil)
	res := f.resolver()
	var boots bootRecorder
	srv, err := New(Config{Resolver: func() *resolver.Resolver { return res }, TFTPRoot: f.tftproot, NFSPort: 2049, HTTPPort: 8080, OnBoot: boots.OnBoot})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	get := func(path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	body := func(r *http.Response) []byte {
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return b
	}
	kpath := "/" + ImageFile(image, KernelName)
	r := get(kpath, "Range", "bytes=1000-1999")
	if b := body(r); r.StatusCode != http.StatusPartialContent || !bytes.Equal(b, f.kernel[1000:2000]) ||
		r.Header.Get("Content-Range") != "bytes 1000-1999/200000" {
		t.Errorf("range: %d %q %d bytes", r.StatusCode, r.Header.Get("Content-Range"), len(b))
	}
	r = get(kpath, "Range", "bytes=-100")
	if b := body(r); r.StatusCode != http.StatusPartialContent || !bytes.Equal(b, f.kernel[len(f.kernel)-100:]) {
		t.Errorf("suffix range: %d", r.StatusCode)
	}
	r = get("/tftpboot" + kpath) // xCAT's URL form
	if b := body(r); r.StatusCode != 200 || !bytes.Equal(b, f.kernel) || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("whole kernel: %d, %d bytes", r.StatusCode, len(b))
	}
	r = get("/" + ImageFile(image, InitrdName))
	if b := body(r); r.StatusCode != 200 || !bytes.Equal(b, f.initrd) {
		t.Errorf("initrd: %d", r.StatusCode)
	}
	r = get("/xcat/xnba/nodes/n1")
	if b := string(body(r)); r.StatusCode != 200 || !strings.HasPrefix(b, "#!ipxe\n") || !strings.Contains(b, "http://${next-server}:8080/xcat/osimage/") ||
		!strings.Contains(b, "root=nfs:10.0.0.2:/nodes/n1/@") {
		t.Errorf("ipxe script: %d\n%s", r.StatusCode, b)
	}
	if got := boots.list(); len(got) != 1 || !strings.HasPrefix(got[0], "n1@") {
		t.Errorf("boots over HTTP: %v", got)
	}
	for _, p := range []string{"/nosuch", "/escape", "/sub", "/xcat/xnba/nodes/n4"} {
		if r := get(p); r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
	// A raw traversal path (the client would clean it: call the handler directly).
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.URL.Path = "/../../etc/passwd"
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("traversal: %d %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/pxelinux.0", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", rec.Code)
	}
}
