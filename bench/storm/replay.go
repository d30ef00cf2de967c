package storm

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"statelite/bench/nfsclient"
	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// Trace is a recorded boot: one node's calls in order.
type Trace struct {
	Node string // the node it was recorded from
	Ops  []nfsd.OpRecord
}

// LoadTrace reads a JSON-lines trace (nfsd.DirRecorder's format). When the file holds
// several boots (several MNTs with a boot token), the last complete one is kept.
func LoadTrace(file string) (*Trace, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &Trace{Node: strings.TrimSuffix(path.Base(file), ".jsonl")}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var r nfsd.OpRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if r.Op == "MNT" && strings.Contains(r.Path, "/@") && len(t.Ops) > 0 {
			t.Ops = t.Ops[:0] // a new boot starts
		}
		t.Ops = append(t.Ops, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// Calls are recorded as they finish: put them in the order they arrived in (a call
	// that depends on another's reply arrived after that reply).
	sort.SliceStable(t.Ops, func(i, j int) bool { return t.Ops[i].T < t.Ops[j].T })
	if len(t.Ops) == 0 || t.Ops[0].Op != "MNT" {
		return nil, fmt.Errorf("%s: no boot (a trace starts with MNT)", file)
	}
	if n, _, ok := strings.Cut(strings.TrimPrefix(t.Ops[0].Path, "/nodes/"), "/"); ok || n != "" {
		t.Node = n
	}
	return t, nil
}

// Counts returns the number of calls per operation.
func (t *Trace) Counts() map[string]int {
	m := map[string]int{}
	for _, r := range t.Ops {
		m[r.Op]++
	}
	return m
}

// Sample is one replayed call.
type Sample struct {
	Op    string
	Start time.Duration // since the storm's start
	Lat   time.Duration
}

// NodeResult is what one simulated node saw over its boots.
type NodeResult struct {
	Node    string
	Boots   []BootResult
	Samples []Sample
	Errors  []string // first few error messages
	NErrors int
	Stale   int // calls answered STALE and retried after a fresh lookup (a live change)
	// Failover (Options.Alt): how often the node's server went away and it moved to the
	// other, the calls answered JUKEBOX and retried, and the calls whose first try was
	// lost with the server and whose retry found them done (EXIST, NOENT: as a kernel's
	// retransmission to another server would).
	Moved, Jukebox, Replayed int
	Extra                    int // LOOKUPs made to find handles the trace had from elsewhere
	Skipped                  int // calls whose handle the recording could not name
}

// BootResult is one boot of a node.
type BootResult struct {
	Start, End time.Duration   // since the storm's start
	Gens       []string        // probe observations in order (GenA/GenB; "mixed" for a mixed answer)
	GenAt      []time.Duration // when each was observed (since the storm's start)
	GenSent    []time.Duration // when the call that answered it was sent
	Mixed      bool            // one answer mixed generations, or the boot saw B then A
}

// replayer replays a trace as one node.
type replayer struct {
	c        *nfsclient.Conn
	node     string
	t0       time.Time
	res      *NodeResult
	fh       map[string][]byte // view path -> handle
	dirNext  map[string]dirPos // directory path -> where its listing stopped
	uid      uint32
	gid      uint32
	wdata    []byte
	boot     *BootResult
	probe    map[uint64]string // probe file sizes -> generation
	onProbe  func()            // after each probe read (Options.OnProbe)
	relooked bool
	// redial, when set, connects to the other server when this one goes away.
	redial   func() (*nfsclient.Conn, error)
	ctx      context.Context
	lastLost bool // the last call's first try was lost with its server
}

type dirPos struct {
	cookie uint64
	verf   []byte
}

var errTransport = errors.New("transport")

// boot replays the trace once (a boot with a new token).
func (rp *replayer) bootOnce(ctx context.Context, tr *Trace, token string) error {
	rp.fh = map[string][]byte{}
	rp.dirNext = map[string]dirPos{}
	br := BootResult{Start: time.Since(rp.t0)}
	rp.boot = &br
	defer func() {
		br.End = time.Since(rp.t0)
		br.Mixed = br.Mixed || !monotonic(br.Gens)
		rp.res.Boots = append(rp.res.Boots, br)
	}()
	for i := range tr.Ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := rp.op(&tr.Ops[i], tr.Node, token); err != nil && errors.Is(err, errTransport) {
			return err
		}
	}
	return nil
}

// monotonic reports whether gens never go back from B to A and hold no mixed answer.
func monotonic(gens []string) bool {
	seenB := false
	for _, g := range gens {
		switch g {
		case GenB:
			seenB = true
		case GenA:
			if seenB {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (rp *replayer) errorf(format string, a ...any) {
	rp.res.NErrors++
	if len(rp.res.Errors) < 5 {
		rp.res.Errors = append(rp.res.Errors, rp.node+": "+fmt.Sprintf(format, a...))
	}
}

// call makes one call and keeps its latency. With a failover (redial), a call whose
// server went away is sent again to the other one, as a hard mount does when its
// floating address moves, and a call answered JUKEBOX is sent again 100 ms later; the
// latency kept is the whole wait.
func (rp *replayer) call(op string, prog, proc uint32, args []byte) ([]byte, error) {
	start := time.Now()
	rp.lastLost = false
	for {
		body, err := rp.c.Call(prog, 3, proc, args)
		var re *nfsclient.RPCError
		if err != nil && rp.redial != nil && !errors.As(err, &re) && rp.ctx.Err() == nil {
			c, derr := rp.redial()
			if derr == nil {
				rp.c.Close()
				rp.c = c
				rp.c.SetCred(rp.uid, rp.gid)
				rp.res.Moved++
				rp.lastLost = true
				continue
			}
			err = fmt.Errorf("%v (the other server: %v)", err, derr)
		}
		if err == nil && rp.redial != nil && prog == wire.ProgNFS && len(body) >= 4 &&
			binary.BigEndian.Uint32(body) == wire.NFS3ErrJukebox && rp.ctx.Err() == nil {
			rp.res.Jukebox++
			select {
			case <-time.After(100 * time.Millisecond):
			case <-rp.ctx.Done():
			}
			continue
		}
		rp.res.Samples = append(rp.res.Samples, Sample{Op: op, Start: start.Sub(rp.t0), Lat: time.Since(start)})
		return body, err
	}
}

// replayedAfterLoss reports whether status st of a call whose first try was lost with
// its server is what its retry finds when the first try was done: the object made
// (EXIST) or gone (NOENT).
func replayedAfterLoss(proc, st uint32) bool {
	switch proc {
	case wire.ProcCreate, wire.ProcMkdir, wire.ProcSymlink, wire.ProcMknod, wire.ProcLink:
		return st == wire.NFS3ErrExist
	case wire.ProcRemove, wire.ProcRmdir, wire.ProcRename:
		return st == wire.NFS3ErrNoEnt
	}
	return false
}

// handle returns the handle of view path p, looking it up from the nearest known
// ancestor when the trace had it from elsewhere.
func (rp *replayer) handle(p string) ([]byte, error) {
	if fh, ok := rp.fh[p]; ok {
		return fh, nil
	}
	if p == "/" {
		return nil, errors.New("no root handle (no MNT yet)")
	}
	dir, err := rp.handle(path.Dir(p))
	if err != nil {
		return nil, err
	}
	rp.res.Extra++
	body, err := rp.call("LOOKUP", wire.ProgNFS, wire.ProcLookup, new(wire.W).Opaque(dir).Str(path.Base(p)).B)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errTransport, err)
	}
	r := &wire.R{B: body}
	if st := r.U32(); st == wire.NFS3ErrStale && !rp.relooked {
		// An ancestor moved (a live change): look the whole path up again, once.
		rp.res.Stale++
		rp.forgetAll()
		rp.relooked = true
		defer func() { rp.relooked = false }()
		return rp.handle(p)
	} else if st != wire.NFS3OK {
		return nil, fmt.Errorf("LOOKUP %s: status %d", p, st)
	}
	fh := append([]byte(nil), r.Opaque(wire.NoLimit)...)
	rp.fh[p] = fh
	return fh, nil
}

// forgetAll drops every handle but the root's.
func (rp *replayer) forgetAll() {
	root := rp.fh["/"]
	rp.fh = map[string][]byte{"/": root}
	rp.dirNext = map[string]dirPos{}
}

// forget drops the handles of p and everything below it.
func (rp *replayer) forget(p string) {
	for k := range rp.fh {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(rp.fh, k)
		}
	}
	delete(rp.dirNext, p)
}

// op replays one recorded call.
func (rp *replayer) op(r *nfsd.OpRecord, recNode, token string) error {
	if r.UID != rp.uid || r.GID != rp.gid {
		rp.c.SetCred(r.UID, r.GID)
		rp.uid, rp.gid = r.UID, r.GID
	}
	if r.Prog == wire.ProgMount {
		dp := rp.exportPath(r.Path, recNode, token)
		body, err := rp.call(r.Op, wire.ProgMount, r.Proc, new(wire.W).Str(dp).B)
		if err != nil {
			rp.errorf("%s %s: %v", r.Op, dp, err)
			return fmt.Errorf("%w: %v", errTransport, err)
		}
		if r.Proc == wire.MntMnt {
			rd := &wire.R{B: body}
			st := rd.U32()
			if st != r.Status {
				rp.errorf("MNT %s: status %d, recorded %d", dp, st, r.Status)
				return nil
			}
			if st == wire.NFS3OK {
				rp.fh = map[string][]byte{"/": append([]byte(nil), rd.Opaque(wire.NoLimit)...)}
			}
		}
		return nil
	}
	if r.Path == "?" || r.Path2 == "?" {
		rp.res.Skipped++
		return nil
	}
	for attempt := 0; ; attempt++ {
		st, err := rp.nfsOp(r)
		if err != nil {
			if errors.Is(err, errTransport) {
				rp.errorf("%s %s %s: %v", r.Op, r.Path, r.Name, err)
				return err
			}
			rp.errorf("%s %s %s: %v", r.Op, r.Path, r.Name, err)
			return nil
		}
		if st == wire.NFS3ErrStale && r.Status != wire.NFS3ErrStale && attempt == 0 {
			// A live change moved the object (as a kernel client would, look it up again).
			rp.res.Stale++
			rp.forgetAll()
			continue
		}
		if st != r.Status {
			if rp.lastLost && r.Status == wire.NFS3OK && replayedAfterLoss(r.Proc, st) {
				rp.res.Replayed++
				rp.forgetAll() // what the lost reply named is looked up again
				return nil
			}
			rp.errorf("%s %s %q: status %d, recorded %d", r.Op, r.Path, r.Name, st, r.Status)
		}
		return nil
	}
}

// exportPath maps a recorded MNT path to this node's: /nodes/<node>[/@<token>][/sub].
func (rp *replayer) exportPath(p, recNode, token string) string {
	rest, ok := strings.CutPrefix(p, "/nodes/"+recNode)
	if !ok {
		return p // an image path: the server maps it by address
	}
	if strings.HasPrefix(rest, "/@") {
		_, after, _ := strings.Cut(rest[2:], "/")
		rest = ""
		if after != "" {
			rest = "/" + after
		}
	}
	out := "/nodes/" + rp.node
	if token != "" {
		out += "/@" + token
	}
	return out + rest
}

// nfsOp sends one NFS call rebuilt from its record and learns the handles its reply
// carries; it returns the reply's status.
func (rp *replayer) nfsOp(r *nfsd.OpRecord) (uint32, error) {
	fh, err := rp.handle(r.Path)
	if err != nil {
		return 0, err
	}
	w := new(wire.W).Opaque(fh)
	var dirKey string
	switch r.Proc {
	case wire.ProcLookup, wire.ProcCreate, wire.ProcMkdir, wire.ProcSymlink,
		wire.ProcMknod, wire.ProcRemove, wire.ProcRmdir:
		w.Str(r.Name)
	case wire.ProcRead, wire.ProcCommit:
		w.U64(r.Offset).U32(r.Count)
	case wire.ProcWrite:
		w.U64(r.Offset).U32(r.Count)
		w.B = append(w.B, r.Args...)
		if len(rp.wdata) < int(r.Count) {
			rp.wdata = make([]byte, r.Count)
			for i := range rp.wdata {
				rp.wdata[i] = byte('a' + i%26)
			}
		}
		w.Opaque(rp.wdata[:r.Count])
	case wire.ProcRename:
		fh2, err := rp.handle(r.Path2)
		if err != nil {
			return 0, err
		}
		w.Str(r.Name).Opaque(fh2).Str(r.Name2)
	case wire.ProcLink:
		fh2, err := rp.handle(r.Path2)
		if err != nil {
			return 0, err
		}
		w.Opaque(fh2).Str(r.Name2)
	case wire.ProcReaddir, wire.ProcReaddirplus:
		dirKey = r.Path
		args := append([]byte(nil), r.Args...)
		cookie := r.Cookie
		if pos, ok := rp.dirNext[dirKey]; ok && cookie != 0 && len(args) >= 8 {
			cookie = pos.cookie
			copy(args, pos.verf)
		} else if cookie == 0 && len(args) >= 8 {
			copy(args, make([]byte, 8))
		}
		w.U64(cookie)
		w.B = append(w.B, args...)
	}
	switch r.Proc {
	case wire.ProcRead, wire.ProcCommit, wire.ProcWrite, wire.ProcRename,
		wire.ProcLink, wire.ProcReaddir, wire.ProcReaddirplus:
	default:
		w.B = append(w.B, r.Args...)
	}
	body, err := rp.call(r.Op, wire.ProgNFS, r.Proc, w.B)
	if err != nil {
		var re *nfsclient.RPCError
		if errors.As(err, &re) {
			return nfsclient.StatusRPC + re.Stat, nil
		}
		return 0, fmt.Errorf("%w: %v", errTransport, err)
	}
	rd := &wire.R{B: body}
	st := rd.U32()
	if rd.Err != nil {
		return 0, rd.Err
	}
	if st != wire.NFS3OK {
		return st, nil
	}
	child := func(name string) string { return path.Join(r.Path, name) }
	switch r.Proc {
	case wire.ProcLookup:
		if fh := rd.Opaque(wire.NoLimit); rd.Err == nil && r.Name != "." && r.Name != ".." {
			rp.fh[child(r.Name)] = append([]byte(nil), fh...)
		}
	case wire.ProcCreate, wire.ProcMkdir, wire.ProcSymlink, wire.ProcMknod:
		if fh := rd.PostOpFH(); fh != nil {
			rp.fh[child(r.Name)] = append([]byte(nil), fh...)
		}
	case wire.ProcRemove, wire.ProcRmdir:
		rp.forget(child(r.Name))
	case wire.ProcRename:
		from, to := child(r.Name), path.Join(r.Path2, r.Name2)
		rp.forget(to)
		for k, v := range rp.fh {
			if k == from || strings.HasPrefix(k, from+"/") {
				delete(rp.fh, k)
				rp.fh[to+strings.TrimPrefix(k, from)] = v
			}
		}
	case wire.ProcRead:
		rd.PostOp()
		rd.U32()
		rd.Bool()
		data := rd.Opaque(wire.NoLimit)
		if path.Dir(r.Path) == ProbeDir {
			rp.probeRead(data)
			if rp.onProbe != nil {
				rp.onProbe()
			}
		}
	case wire.ProcReaddirplus:
		ents, verf, eof := nfsclient.ParseReaddirplus(rd)
		for _, e := range ents {
			if e.Name != "." && e.Name != ".." && len(e.FH) > 0 {
				rp.fh[child(e.Name)] = e.FH
			}
		}
		if len(ents) > 0 && !eof {
			rp.dirNext[dirKey] = dirPos{cookie: ents[len(ents)-1].Cookie, verf: verf}
		}
		if r.Path == ProbeDir {
			rp.probeList(ents)
		}
	}
	return st, nil
}

// observe notes a probe answer of generation g, now, to the call last made.
func (rp *replayer) observe(g string) {
	rp.boot.Gens = append(rp.boot.Gens, g)
	rp.boot.GenAt = append(rp.boot.GenAt, time.Since(rp.t0))
	var sent time.Duration
	if n := len(rp.res.Samples); n > 0 {
		sent = rp.res.Samples[n-1].Start
	}
	rp.boot.GenSent = append(rp.boot.GenSent, sent)
}

// probeRead notes the generation a probe file's content came from.
func (rp *replayer) probeRead(data []byte) {
	switch {
	case strings.HasPrefix(string(data), "gen=A"):
		rp.observe(GenA)
	case strings.HasPrefix(string(data), "gen=B"):
		rp.observe(GenB)
	default:
		rp.observe("mixed")
		rp.boot.Mixed = true
	}
}

// probeList checks that one listing of the probe directory holds one generation's files.
func (rp *replayer) probeList(ents []nfsclient.Entry) {
	gens := map[string]bool{}
	for _, e := range ents {
		if !e.HasAtt {
			continue
		}
		if g, ok := rp.probe[e.Attr.Size]; ok && strings.HasSuffix(e.Name, ".conf") {
			gens[g] = true
		}
	}
	switch {
	case len(gens) == 1:
		for g := range gens {
			rp.observe(g)
		}
	case len(gens) > 1:
		rp.observe("mixed")
		rp.boot.Mixed = true
	}
}

// Options of a storm.
type Options struct {
	Addr string // server address
	// Alt, when set, is a second server: every other node starts on it, and a node whose
	// server goes away moves to the other one (a floating address), retrying the call.
	Alt     string
	Trace   *Trace
	Cluster *Cluster // node names and addresses
	N       int      // nodes (the first N of the cluster)
	Boots   int      // boots per node (default 1)
	Timeout time.Duration
	OnBoot  func(done int) // called after each completed boot (from the node's goroutine)
	// OnProbe, when set, is called after each read of a probe file (ProbeDir) with the
	// number of such reads so far, across the nodes.
	OnProbe func(reads int)
	// BeforeBoot, when set, is called before each boot of a node (FreshPersistent).
	BeforeBoot func(node string) error
	KeepOpen   bool // keep the connections open after the boots (Result.Close closes them)
}

// Result of a storm.
type Result struct {
	N          int
	T0         time.Time     // the storm's start
	Wall       time.Duration // until every node completed its boots
	Nodes      []*NodeResult
	conns      []*nfsclient.Conn
	BootErrors int // boots that ended with a transport error
}

// Close closes connections kept open.
func (r *Result) Close() {
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// Run replays the trace from N nodes at once: each dials the server from its own
// address, then boots Boots times (a MNT with a new token, then the trace's calls back
// to back, without the guest's think time).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Boots < 1 {
		o.Boots = 1
	}
	if o.N > len(o.Cluster.Names) {
		return nil, fmt.Errorf("%d nodes asked for, the cluster has %d", o.N, len(o.Cluster.Names))
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	var probeReads atomic.Int64
	var onProbe func()
	if o.OnProbe != nil {
		onProbe = func() { o.OnProbe(int(probeReads.Add(1))) }
	}
	probe := map[uint64]string{}
	for _, g := range []string{GenA, GenB} {
		for _, f := range ProbeFiles {
			probe[uint64(len(ProbeContent(g, f)))] = g
		}
	}
	res := &Result{N: o.N, Nodes: make([]*NodeResult, o.N), conns: make([]*nfsclient.Conn, o.N)}
	var wg sync.WaitGroup
	var done atomic.Int64
	start := make(chan struct{})
	var t0 time.Time
	var bootErrs atomic.Int64
	for i := 0; i < o.N; i++ {
		node := o.Cluster.Names[i]
		nr := &NodeResult{Node: node}
		res.Nodes[i] = nr
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			first, other := o.Addr, o.Alt
			if o.Alt != "" && i%2 == 1 {
				first, other = o.Alt, o.Addr
			}
			c, err := nfsclient.Dial(first, o.Cluster.Addrs[node], node, 0, 0)
			if err != nil {
				nr.NErrors++
				nr.Errors = append(nr.Errors, node+": dial: "+err.Error())
				bootErrs.Add(1)
				return
			}
			c.Timeout = 60 * time.Second
			res.conns[i] = c
			rp := &replayer{c: c, node: node, t0: t0, res: nr, probe: probe, onProbe: onProbe, ctx: ctx}
			stop := context.AfterFunc(ctx, func() { rp.c.Close() })
			defer stop()
			if o.Alt != "" {
				rp.redial = func() (*nfsclient.Conn, error) {
					first, other = other, first
					c, err := nfsclient.Dial(first, o.Cluster.Addrs[node], node, 0, 0)
					if err == nil {
						c.Timeout = 60 * time.Second
						res.conns[i] = c
					}
					return c, err
				}
			}
			for b := 0; b < o.Boots; b++ {
				if o.BeforeBoot != nil {
					if err := o.BeforeBoot(node); err != nil {
						rp.errorf("before boot: %v", err)
					}
				}
				token := fmt.Sprintf("storm%d-%d", time.Now().UnixNano(), b)
				if err := rp.bootOnce(ctx, o.Trace, token); err != nil {
					bootErrs.Add(1)
					if ctx.Err() != nil {
						nr.NErrors++
						nr.Errors = append(nr.Errors, node+": "+ctx.Err().Error())
					}
					return
				}
				if o.OnBoot != nil {
					o.OnBoot(int(done.Add(1)))
				}
			}
		}()
	}
	t0 = time.Now()
	res.T0 = t0
	close(start)
	wg.Wait()
	res.Wall = time.Since(t0)
	res.BootErrors = int(bootErrs.Load())
	if !o.KeepOpen {
		res.Close()
	}
	return res, ctx.Err()
}

// Errors returns the number of errors and the first few messages.
func (r *Result) Errors() (int, []string) {
	n := 0
	var msgs []string
	for _, nr := range r.Nodes {
		n += nr.NErrors
		for _, m := range nr.Errors {
			if len(msgs) < 10 {
				msgs = append(msgs, m)
			}
		}
	}
	return n, msgs
}

// Latencies returns every call's latency in milliseconds, per operation (and "ALL"),
// sorted, for samples started within [from, to) (to 0: no bound).
func (r *Result) Latencies(from, to time.Duration) map[string][]float64 {
	m := map[string][]float64{}
	for _, nr := range r.Nodes {
		for _, s := range nr.Samples {
			if s.Start < from || (to > 0 && s.Start >= to) {
				continue
			}
			ms := float64(s.Lat) / float64(time.Millisecond)
			m[s.Op] = append(m[s.Op], ms)
			m["ALL"] = append(m["ALL"], ms)
		}
	}
	for _, v := range m {
		sort.Float64s(v)
	}
	return m
}

// BootTimes returns every boot's duration from the storm's start to its end, sorted
// (seconds).
func (r *Result) BootTimes() []float64 {
	var out []float64
	for _, nr := range r.Nodes {
		for _, b := range nr.Boots {
			out = append(out, b.End.Seconds())
		}
	}
	sort.Float64s(out)
	return out
}

// Quantile returns the q-quantile of sorted xs (nearest rank).
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(q*float64(len(xs))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(xs) {
		i = len(xs) - 1
	}
	return xs[i]
}

// MountIdle connects nodes [from, to) of the cluster (0-based), each from its own
// address, mounts its view and asks for its root's attributes and FSINFO, as a booted
// node's kernel holds its mount; the connections stay open (close them).
func MountIdle(ctx context.Context, addr string, c *Cluster, from, to int) ([]*nfsclient.Conn, error) {
	conns := make([]*nfsclient.Conn, to-from)
	errs := make(chan error, to-from)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := from; i < to; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			node := c.Names[i]
			cn, err := nfsclient.Dial(addr, c.Addrs[node], node, 0, 0)
			if err != nil {
				errs <- err
				return
			}
			conns[i-from] = cn
			fh, err := cn.Mount("/nodes/" + node)
			if err == nil {
				_, err = cn.Getattr(fh)
			}
			if err == nil {
				_, err = cn.Call(wire.ProgNFS, 3, wire.ProcFsinfo, new(wire.W).Opaque(fh).B)
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %w", node, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var out []*nfsclient.Conn
	for _, cn := range conns {
		if cn != nil {
			out = append(out, cn)
		}
	}
	if err := <-errs; err != nil {
		return out, err
	}
	return out, ctx.Err()
}
