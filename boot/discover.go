package boot

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"statelite/resolver"
	"statelite/tables"
)

// Node discovery: the DHCP server reports every request from a MAC that no node has to a
// Discovery, which keeps one discRecord per MAC (what xCAT's discoverydata table holds for a
// discovery request) and, while sequential discovery runs, binds the MAC to the next free
// node of a noderange by writing that node's mac table row. The CLI's nodediscoverls,
// nodediscoverdef, nodediscoverstart and nodediscoverstop read and drive the same files.

// Discovered is one unknown MAC seen by the DHCP server.
type Discovered struct {
	MAC    string    `json:"mac"`              // normalized: 12 lower-case hex digits (resolver.NormalizeMAC)
	Iface  string    `json:"iface,omitempty"`  // the interface the request arrived on
	Arch   string    `json:"arch,omitempty"`   // client architecture (option 93) as a word (DiscoveryArch); "" when absent
	Vendor string    `json:"vendor,omitempty"` // vendor class (option 60), e.g. "PXEClient:Arch:00000:UNDI:002001"
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Count  int       `json:"count"`
	Node   string    `json:"node,omitempty"` // the node it was bound to by sequential discovery, "" if none
}

// DiscoveryConfig configures a Discovery.
type DiscoveryConfig struct {
	Dir string       // the state directory: records in Dir/discovery.json, sequential discovery in Dir/discovery-seq
	Max int          // at most this many records (0 = 10000); the oldest (by Last) dropped first
	Log *slog.Logger // nil discards
	Now func() time.Time
	// Bind writes the mac table row of node with mac (through the table store, validated);
	// called by Seen during sequential discovery. nil: sequential discovery binds nothing.
	// DiscoveryBinder(st) is such a function.
	Bind func(ctx context.Context, node, mac string) error
}

const (
	discoveryFile    = "discovery.json"
	discoverySeqFile = "discovery-seq"
	discDefaultMax   = 10000

	// discLogsPerWindow is how many new MACs are logged a minute; the others are counted and
	// summarized in one line, so a flood of random MACs cannot flood the log.
	discLogsPerWindow = 10
	discLogWindow     = time.Minute

	// discMaxField bounds the strings a client sends (vendor class, …) kept in a record: the
	// memory and the file stay bounded by Max whatever the clients send.
	discMaxField = 128
)

// DiscoveryFile is the file a Discovery keeps its records in, under the state directory.
func DiscoveryFile(dir string) string { return filepath.Join(dir, discoveryFile) }

// DiscoverySeqFile is the file whose presence turns sequential discovery on: it holds the
// noderange whose nodes are handed out.
func DiscoverySeqFile(dir string) string { return filepath.Join(dir, discoverySeqFile) }

// DiscoveryArch names a DHCP client architecture (option 93, RFC 4578) as nodediscoverls
// shows it; "" when the client sent none, the number for a type without a name here.
func DiscoveryArch(arch uint16, present bool) string {
	if !present {
		return ""
	}
	switch arch {
	case 0:
		return "x86"
	case 7, 9:
		return "x86_64-efi"
	case 11:
		return "arm64-efi"
	case 16:
		return "x86_64-efi-http"
	case 19:
		return "arm64-efi-http"
	}
	return strconv.Itoa(int(arch))
}

// discRecord is a Discovered in the heap of records ordered by Last.
type discRecord struct {
	Discovered
	tick uint64 // order of the last update: breaks ties of Last (and a clock going back)
	idx  int    // index in the heap
}

// discHeap orders the records oldest first, the one dropped when Max is reached.
type discHeap []*discRecord

func (h discHeap) Len() int { return len(h) }
func (h discHeap) Less(i, j int) bool {
	if !h[i].Last.Equal(h[j].Last) {
		return h[i].Last.Before(h[j].Last)
	}
	return h[i].tick < h[j].tick
}
func (h discHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *discHeap) Push(x any) {
	r := x.(*discRecord)
	r.idx = len(*h)
	*h = append(*h, r)
}
func (h *discHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// discHand is a node handed to a MAC by sequential discovery: while its Bind runs (done
// false) and until a snapshot shows the node with a mac, the node is not handed again.
type discHand struct {
	mac  string
	done bool
}

// discCands is the sequential discovery noderange expanded against one snapshot: nodes
// before next are known not to be free in that snapshot (they have a mac, or were handed).
type discCands struct {
	snap  *tables.Snapshot
	text  string
	nodes []string
	next  int
}

// Discovery keeps the unknown MACs the DHCP server sees and runs sequential discovery.
// Seen is safe for concurrent use; Close stops the background flusher.
type Discovery struct {
	cfg  DiscoveryConfig
	log  *slog.Logger
	now  func() time.Time
	path string
	seq  string // DiscoverySeqFile

	mu    sync.Mutex
	recs  map[string]*discRecord
	heap  discHeap
	tick  uint64
	dirty bool
	full  bool // the "records full" line was logged

	// The rate limit of the "unknown MAC" lines (discLogsPerWindow a discLogWindow).
	logLimit rateLimit

	// Sequential discovery: the file's last stat and text ("" off), when it was last
	// checked, whether the range was reported used up, and the nodes handed out.
	seqFI        os.FileInfo
	seqText      string
	seqAt        time.Time
	seqExhausted bool
	seqBad       string // the noderange text whose expansion failed (logged once)
	cand         *discCands
	handed       map[string]*discHand // node -> its MAC
	handedTo     map[string]string    // MAC -> node
	writeErr     string               // the last write error logged (logged once until a write succeeds)
	// After a failed Bind, none is tried before bindAt (a second later), and the same
	// error is logged once: a broken store and a flood of unknown MACs must not turn
	// into a table edit and a log line per request.
	bindAt  time.Time
	bindErr string

	flushMu   sync.Mutex // one write of the file at a time
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// OpenDiscovery loads Dir/discovery.json if present (a corrupt file: renamed aside to
// discovery.json.bad-<time>, logged, start empty — never fail the server for it) and starts
// the background flusher.
func OpenDiscovery(cfg DiscoveryConfig) (*Discovery, error) {
	if cfg.Dir == "" {
		return nil, errors.New("discovery: no state directory")
	}
	if cfg.Max <= 0 {
		cfg.Max = discDefaultMax
	}
	d := &Discovery{
		cfg: cfg, log: cfg.Log, now: cfg.Now,
		path: DiscoveryFile(cfg.Dir), seq: DiscoverySeqFile(cfg.Dir),
		recs: map[string]*discRecord{}, handed: map[string]*discHand{}, handedTo: map[string]string{},
		stop: make(chan struct{}), done: make(chan struct{}),
		logLimit: rateLimit{every: discLogWindow, burst: discLogsPerWindow},
	}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.now == nil {
		d.now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	recs, err := readDiscovery(d.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// A torn or hand-edited file must not keep the DHCP server from starting: keep it
		// for inspection and start with no records.
		bad := d.path + ".bad-" + d.now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(d.path, bad); rerr != nil {
			d.log.Warn("discovery records unreadable, starting empty; could not move the file aside", "file", d.path, "err", err, "rename", rerr)
		} else {
			d.log.Warn("discovery records unreadable, moved aside; starting empty", "file", d.path, "moved", bad, "err", err)
		}
		recs = nil
	}
	for _, r := range recs {
		d.load(r)
	}
	for len(d.recs) > cfg.Max {
		d.dropOldest()
	}
	d.refreshSeq(d.now())
	go d.flusher()
	return d, nil
}

// load adds a record read from the file: an entry without a valid MAC is dropped, a
// duplicate MAC merged into the first.
func (d *Discovery) load(r Discovered) {
	mac := resolver.NormalizeMAC(r.MAC)
	if mac == "" {
		return
	}
	r.MAC = mac
	if old := d.recs[mac]; old != nil {
		old.Count += r.Count
		if r.First.Before(old.First) {
			old.First = r.First
		}
		if r.Last.After(old.Last) {
			old.Last = r.Last
			heap.Fix(&d.heap, old.idx)
		}
		return
	}
	d.tick++
	rec := &discRecord{Discovered: r, tick: d.tick}
	heap.Push(&d.heap, rec)
	d.recs[mac] = rec
}

// dropOldest removes the record seen longest ago; the caller holds d.mu.
func (d *Discovery) dropOldest() {
	r := heap.Pop(&d.heap).(*discRecord)
	delete(d.recs, r.MAC)
}

// discClip bounds a string a client sent.
func discClip(s string) string {
	if len(s) > discMaxField {
		return s[:discMaxField]
	}
	return s
}

// Seen records a request from an unknown MAC (s is the table snapshot in force) and
// returns the node sequential discovery bound it to, "" when none. It never blocks on
// disk: the records are kept in memory and written to Dir/discovery.json atomically by a
// background flusher at most once a second when changed, and on Close. At most ten new
// MACs a minute are logged, the others counted in one "N more unknown MACs not logged"
// line. When sequential discovery is on (Dir/discovery-seq holds a noderange;
// its stat is checked at most once a second, the file re-read when it changed), a MAC not
// yet bound gets the next node of the range, in the range's order, that has no mac in s
// and was not handed to another MAC by this Discovery: Seen calls Bind(ctx, node, mac)
// (outside its lock), records Node, logs "discovered" with node and mac, and returns the
// node; the DHCP server answers it after the tables reload. When the range is used up it
// logs once and returns "".
func (d *Discovery) Seen(ctx context.Context, s *tables.Snapshot, r Discovered) (node string) {
	mac := resolver.NormalizeMAC(r.MAC)
	if mac == "" {
		return ""
	}
	r.MAC, r.Iface, r.Arch, r.Vendor = mac, discClip(r.Iface), discClip(r.Arch), discClip(r.Vendor)
	now := d.now()
	var logs []func()
	d.mu.Lock()
	rec := d.recs[mac]
	d.tick++
	if rec == nil {
		if len(d.recs) >= d.cfg.Max {
			d.dropOldest()
			if !d.full {
				d.full = true
				limit := d.cfg.Max
				logs = append(logs, func() {
					d.log.Warn("discovery records full: the oldest unknown MACs are dropped", "max", limit)
				})
			}
		}
		rec = &discRecord{Discovered: Discovered{MAC: mac, Iface: r.Iface, Arch: r.Arch, Vendor: r.Vendor, First: now, Last: now, Count: 1}, tick: d.tick}
		heap.Push(&d.heap, rec)
		d.recs[mac] = rec
		logs = append(logs, d.noteNewLocked(now, r)...)
	} else {
		rec.Last = now
		rec.Count++
		rec.tick = d.tick
		if r.Iface != "" {
			rec.Iface = r.Iface
		}
		if r.Arch != "" {
			rec.Arch = r.Arch
		}
		if r.Vendor != "" {
			rec.Vendor = r.Vendor
		}
		heap.Fix(&d.heap, rec.idx)
	}
	d.dirty = true
	// A MAC this Discovery handed a node to: the tables have not reloaded yet (the DHCP
	// server asks only about MACs its snapshot does not know). While its Bind still runs,
	// answer nothing rather than a node that may not get the MAC.
	handedNode, handed := d.handedTo[mac]
	if h := d.handed[handedNode]; handed && h != nil && h.done {
		if s != nil && discHasMAC(s, handedNode) {
			// The snapshot shows the node with a mac and still not this MAC: the binding
			// was replaced since. The MAC is unknown again, like any other.
			delete(d.handed, handedNode)
			delete(d.handedTo, mac)
			handed = false
		} else {
			node = handedNode
		}
	}
	d.mu.Unlock()
	for _, l := range logs {
		l()
	}
	if handed || d.cfg.Bind == nil || s == nil {
		return node
	}
	return d.sequential(ctx, s, mac, now)
}

// noteNewLocked returns the log lines for a new MAC under the rate limit (and the count
// of those not logged, once their window is over); the caller holds d.mu and emits them
// after unlocking.
func (d *Discovery) noteNewLocked(now time.Time, r Discovered) []func() {
	var logs []func()
	n, ok := d.logLimit.allow(now)
	if n > 0 {
		logs = append(logs, func() { d.log.Info(fmt.Sprintf("%d more unknown MACs not logged", n)) })
	}
	if ok {
		logs = append(logs, func() {
			d.log.Info("unknown MAC", "mac", FormatMAC(r.MAC), "iface", r.Iface, "arch", r.Arch, "vendor", r.Vendor)
		})
	}
	return logs
}

// summary logs the count of the new MACs not logged, once their window is over (or at
// once with force).
func (d *Discovery) summary(force bool) {
	if n := d.logLimit.drain(d.now(), force); n > 0 {
		d.log.Info(fmt.Sprintf("%d more unknown MACs not logged", n))
	}
}

// refreshSeq returns the sequential discovery noderange ("" when off), checking the
// file's stat at most once a second and re-reading it only when it changed. The stat and
// read run outside d.mu so a slow state directory delays one request, not all of them.
func (d *Discovery) refreshSeq(now time.Time) string {
	d.mu.Lock()
	due := d.seqAt.IsZero() || now.Sub(d.seqAt) >= time.Second || now.Before(d.seqAt)
	if due {
		d.seqAt = now
	}
	text, prev := d.seqText, d.seqFI
	d.mu.Unlock()
	if !due {
		return text
	}
	fi, err := os.Stat(d.seq)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("sequential discovery file unreadable; discovery off", "file", d.seq, "err", err)
		}
		return d.setSeq(nil, "")
	}
	if prev != nil && os.SameFile(prev, fi) && prev.ModTime().Equal(fi.ModTime()) && prev.Size() == fi.Size() {
		return text
	}
	b, err := os.ReadFile(d.seq)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return d.setSeq(nil, "")
		}
		d.log.Warn("sequential discovery file unreadable; discovery off", "file", d.seq, "err", err)
		return d.setSeq(nil, "")
	}
	return d.setSeq(fi, ParseDiscoverySeq(b))
}

// setSeq installs a new state of the sequential discovery file and logs a start or stop.
func (d *Discovery) setSeq(fi os.FileInfo, text string) string {
	d.mu.Lock()
	old := d.seqText
	d.seqFI, d.seqText = fi, text
	if old != text {
		d.seqExhausted = false
		d.cand = nil
	}
	d.mu.Unlock()
	switch {
	case old == text:
	case text == "":
		d.log.Info("sequential discovery stopped", "noderange", old)
	default:
		d.log.Info("sequential discovery started", "noderange", text, "file", d.seq)
	}
	return text
}

// sequential hands the next free node of the sequential discovery range to mac.
func (d *Discovery) sequential(ctx context.Context, s *tables.Snapshot, mac string, now time.Time) string {
	text := d.refreshSeq(now)
	if text == "" {
		return ""
	}
	d.mu.Lock()
	if _, ok := d.handedTo[mac]; ok || now.Before(d.bindAt) {
		// A concurrent request of the same MAC got here first, or binding failed a
		// moment ago.
		d.mu.Unlock()
		return ""
	}
	c := d.cand
	if c == nil || c.snap != s || c.text != text {
		// Expand outside the lock: a noderange may read a ^file.
		d.mu.Unlock()
		nodes, err := discSeqNodes(s, text)
		d.mu.Lock()
		if err != nil && d.seqBad != text {
			d.seqBad = text
			d.log.Warn("sequential discovery: bad noderange; nothing is bound", "noderange", text, "err", err)
		}
		c = &discCands{snap: s, text: text, nodes: nodes}
		d.cand = c
		// A node handed out whose binding the snapshot now shows (or that another MAC
		// took meanwhile) needs no guard any more: s itself says it is not free.
		for n, h := range d.handed {
			if h.done && discHasMAC(s, n) {
				delete(d.handed, n)
				if d.handedTo[h.mac] == n {
					delete(d.handedTo, h.mac)
				}
			}
		}
		if _, ok := d.handedTo[mac]; ok {
			d.mu.Unlock()
			return ""
		}
	}
	for c.next < len(c.nodes) && (d.handed[c.nodes[c.next]] != nil || discHasMAC(s, c.nodes[c.next])) {
		c.next++
	}
	if c.next >= len(c.nodes) {
		first := !d.seqExhausted
		d.seqExhausted = true
		d.mu.Unlock()
		if first {
			d.log.Warn("sequential discovery: no free node left in the noderange; unknown MACs are not bound", "noderange", text, "mac", FormatMAC(mac))
		}
		return ""
	}
	node := c.nodes[c.next]
	c.next++
	h := &discHand{mac: mac}
	d.handed[node], d.handedTo[mac] = h, node
	d.mu.Unlock()

	err := d.cfg.Bind(ctx, node, mac)

	d.mu.Lock()
	if err != nil {
		if d.handed[node] == h {
			delete(d.handed, node)
		}
		if d.handedTo[mac] == node {
			delete(d.handedTo, mac)
		}
		if d.cand != nil {
			d.cand.next = 0 // the node is free again
		}
		d.bindAt = now.Add(time.Second)
		logIt := d.bindErr != err.Error()
		d.bindErr = err.Error()
		d.mu.Unlock()
		if logIt {
			d.log.Error("sequential discovery: binding failed", "node", node, "mac", FormatMAC(mac), "err", err)
		}
		return ""
	}
	d.bindErr = ""
	h.done = true
	d.seqExhausted = false
	if rec := d.recs[mac]; rec != nil {
		rec.Node = node
		d.dirty = true
	}
	d.mu.Unlock()
	d.log.Info("discovered", "node", node, "mac", FormatMAC(mac), "noderange", text)
	return node
}

// discHasMAC reports whether node has a mac in s (its own row or a group's).
func discHasMAC(s *tables.Snapshot, node string) bool {
	v, _, ok := s.NodeAttr(node, "mac", "mac")
	return ok && strings.TrimSpace(v) != ""
}

// SeqNoderangeOptions are the noderange options sequential discovery expands its range
// with, the CLI's (XCAT_NODE_PREFIX / XCAT_NODE_SUFFIX), so nodediscoverstart counts the
// nodes the server hands out.
func SeqNoderangeOptions() tables.NoderangeOptions {
	return tables.NoderangeOptions{Prefix: os.Getenv("XCAT_NODE_PREFIX"), Suffix: os.Getenv("XCAT_NODE_SUFFIX")}
}

// discSeqNodes expands a sequential discovery noderange against s, in the order nodes are
// handed out: the numbers in the names compared as numbers (n2 before n10; a noderange
// itself sorts by plain string order), since the nodes are powered on one after another
// in that order.
func discSeqNodes(s *tables.Snapshot, text string) ([]string, error) {
	nodes, _, err := s.Noderange(text, SeqNoderangeOptions())
	if err != nil {
		return nil, err
	}
	sort.SliceStable(nodes, func(i, j int) bool { return discNaturalLess(nodes[i], nodes[j]) })
	return nodes, nil
}

// discNaturalLess orders names with their digit runs compared by value ("n2" < "n10"),
// and names equal that way ("n02", "n2") by plain string order.
func discNaturalLess(a, b string) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if discDigit(ca) && discDigit(cb) {
			si, sj := i, j
			for i < len(a) && discDigit(a[i]) {
				i++
			}
			for j < len(b) && discDigit(b[j]) {
				j++
			}
			x, y := strings.TrimLeft(a[si:i], "0"), strings.TrimLeft(b[sj:j], "0")
			if len(x) != len(y) {
				return len(x) < len(y)
			}
			if x != y {
				return x < y
			}
			continue
		}
		if ca != cb {
			return ca < cb
		}
		i++
		j++
	}
	if len(a)-i != len(b)-j {
		return len(a)-i < len(b)-j
	}
	return a < b
}

func discDigit(c byte) bool { return c >= '0' && c <= '9' }

// SeqFreeNodes expands a sequential discovery noderange against s: nodes are the defined
// nodes of the range in the order they are handed out, free those of them without a mac
// (the ones sequential discovery hands out), missed the names of the range that are not
// defined nodes (xCAT's sequential discovery needs the nodes predefined; they are
// skipped).
func SeqFreeNodes(s *tables.Snapshot, text string) (nodes, free, missed []string, err error) {
	_, missed, err = s.Noderange(text, SeqNoderangeOptions())
	if err != nil {
		return nil, nil, nil, err
	}
	if nodes, err = discSeqNodes(s, text); err != nil {
		return nil, nil, nil, err
	}
	for _, n := range nodes {
		if !discHasMAC(s, n) {
			free = append(free, n)
		}
	}
	return nodes, free, missed, nil
}

// ParseDiscoverySeq returns the noderange a sequential discovery file holds: its first
// non-empty line, trimmed ("" for an empty file: discovery off).
func ParseDiscoverySeq(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// ReadDiscoverySeq returns the noderange of a running sequential discovery and when it
// was started (the file's modification time); ok is false when none runs.
func ReadDiscoverySeq(dir string) (text string, since time.Time, ok bool, err error) {
	b, err := os.ReadFile(DiscoverySeqFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, err
	}
	fi, err := os.Stat(DiscoverySeqFile(dir))
	if err != nil {
		return "", time.Time{}, false, err
	}
	text = ParseDiscoverySeq(b)
	return text, fi.ModTime(), text != "", nil
}

// WriteDiscoverySeq starts sequential discovery over noderange text: it writes
// Dir/discovery-seq atomically (a server never reads half a range).
func WriteDiscoverySeq(dir, text string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return tables.WriteFileAtomic(DiscoverySeqFile(dir), []byte(strings.TrimSpace(text)+"\n"), 0o644)
}

// RemoveDiscoverySeq stops sequential discovery; ok is false when none was running.
func RemoveDiscoverySeq(dir string) (ok bool, err error) {
	err = os.Remove(DiscoverySeqFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// flusher writes the records once a second when they changed, until Close.
func (d *Discovery) flusher() {
	defer close(d.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.flush()
			d.summary(false)
		}
	}
}

// flush writes the records to the file when they changed since the last write. A failed
// write is logged once (until one succeeds) and retried at the next tick.
func (d *Discovery) flush() error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	if !d.dirty {
		d.mu.Unlock()
		return nil
	}
	recs := make([]Discovered, 0, len(d.recs))
	for _, r := range d.recs {
		recs = append(recs, r.Discovered)
	}
	d.dirty = false
	d.mu.Unlock()
	sortDiscovered(recs)
	err := writeDiscovery(d.path, recs)
	d.mu.Lock()
	logIt := false
	if err != nil {
		d.dirty = true
		logIt = d.writeErr != err.Error()
		d.writeErr = err.Error()
	} else {
		d.writeErr = ""
	}
	d.mu.Unlock()
	if logIt {
		d.log.Error("discovery records not written", "file", d.path, "err", err)
	}
	return err
}

// Close stops the flusher and writes the final state. Seen may still be called after
// Close (a request in flight); what it records is then not written.
func (d *Discovery) Close() error {
	d.closeOnce.Do(func() {
		close(d.stop)
		<-d.done
		d.closeErr = d.flush()
		d.summary(true)
	})
	return d.closeErr
}

// discoveryDoc is the content of discovery.json.
type discoveryDoc struct {
	Records []Discovered `json:"records"`
}

func sortDiscovered(recs []Discovered) {
	sort.Slice(recs, func(i, j int) bool {
		if !recs[i].First.Equal(recs[j].First) {
			return recs[i].First.Before(recs[j].First)
		}
		return recs[i].MAC < recs[j].MAC
	})
}

func readDiscovery(path string) ([]Discovered, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc discoveryDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc.Records, nil
}

func writeDiscovery(path string, recs []Discovered) error {
	b, err := json.MarshalIndent(discoveryDoc{Records: recs}, "", " ")
	if err != nil {
		return err
	}
	return tables.WriteFileAtomic(path, append(b, '\n'), 0o644)
}

// ReadDiscovered returns the records of Dir/discovery.json sorted by First (none when
// the file does not exist: no unknown MAC seen yet). The server writes the file at most
// once a second, so the newest second may be missing.
func ReadDiscovered(dir string) ([]Discovered, error) {
	recs, err := readDiscovery(DiscoveryFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sortDiscovered(recs)
	return recs, nil
}

// SetNodeMAC makes mac node's MAC: it writes mac.mac of node (as aa:bb:cc:dd:ee:ff; the
// interface column is left as it is) through st.Edit, so the edit is validated, written
// atomically and recorded like chtab's. Under the store's lock it checks that node is
// defined and that no other node has mac. A node with another mac is an error unless
// replace (nodediscoverdef replaces, as xCAT; sequential discovery never takes a node
// that has one). prev is node's mac value before; a mac the node already has changes
// nothing.
func SetNodeMAC(ctx context.Context, st tables.Store, node, mac string, replace bool) (snap *tables.Snapshot, prev string, err error) {
	m := resolver.NormalizeMAC(mac)
	if m == "" {
		return nil, "", fmt.Errorf("%q is not a MAC address", mac)
	}
	snap, err = st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		if !cur.IsNode(node) {
			return nil, fmt.Errorf("node %q is not defined (no nodelist row): define it first", node)
		}
		for _, n := range resolver.MACOwners(cur)[m] {
			if n != node {
				return nil, fmt.Errorf("MAC %s already belongs to node %s", FormatMAC(m), n)
			}
		}
		v, _, _ := cur.NodeAttr(node, "mac", "mac")
		prev = strings.TrimSpace(v)
		if _, all := resolver.MACs(prev, node); slices.Contains(all, m) {
			return nil, nil
		}
		if prev != "" && !replace {
			return nil, fmt.Errorf("node %s already has mac %s", node, prev)
		}
		t := cur.Table("mac").Clone()
		t.SetRow(node, map[string]string{"mac": FormatMAC(m)})
		return map[string]*tables.Table{"mac": t}, nil
	})
	return snap, prev, err
}

// DiscoveryBinder returns a DiscoveryConfig.Bind that writes the binding through st
// (SetNodeMAC without replacing: a node that got a mac meanwhile is refused).
func DiscoveryBinder(st tables.Store) func(ctx context.Context, node, mac string) error {
	return func(ctx context.Context, node, mac string) error {
		_, _, err := SetNodeMAC(ctx, st, node, mac, false)
		return err
	}
}
