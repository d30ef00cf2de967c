package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"statelite/fs"
	"statelite/tables"
)

// keptRejections is how many rejected edits the status file keeps.
const keptRejections = 20

// BootRecord is a node's last boot: the reset of its volatile layer.
type BootRecord struct {
	Time  time.Time `json:"time"`
	Epoch uint64    `json:"epoch"`
	// ImageDir is the node's image directory at the boot and ImageGen the generation of
	// it the boot serves (0: the working copy, live); TablesGen the tables in force.
	ImageDir  string `json:"image_dir,omitempty"`
	ImageGen  int    `json:"image_generation,omitempty"`
	TablesGen uint64 `json:"tables_generation,omitempty"`
}

// Status is what a running server says about itself in <state>/status.json.
type Status struct {
	Running    bool                  `json:"running"`
	PID        int                   `json:"pid"`
	Started    time.Time             `json:"started"`
	Updated    time.Time             `json:"updated"`
	Tables     string                `json:"tables"`
	Generation uint64                `json:"generation"`       // the generation in force (history numbering)
	StoreGen   uint64                `json:"store_generation"` // the store's own generation it was read at
	Since      time.Time             `json:"since"`            // when it took force
	Who        string                `json:"who"`
	Nodes      []string              `json:"nodes"`  // nodelist of the generation in force
	Served     []string              `json:"served"` // nodes whose views were asked for since the start
	Boots      map[string]BootRecord `json:"boots"`
	Rejections []tables.Rejection    `json:"rejections"`           // the last rejected edits, oldest first
	Pending    *tables.Rejection     `json:"pending,omitempty"`    // the store holds this rejected edit now
	Name       string                `json:"name,omitempty"`       // the server's name (service nodes)
	Leases     map[string]time.Time  `json:"leases,omitempty"`     // the nodes whose write lease this server holds, since when (several servers)
	StoreDown  string                `json:"store_down,omitempty"` // the table database is unreachable: why
	DownSince  *time.Time            `json:"store_down_since,omitempty"`
}

// statusWriter keeps a server's status file up to date.
type statusWriter struct {
	mu   sync.Mutex
	path string
	st   Status
	log  *slog.Logger

	// Boots are gathered apart (bmu), so that recording one (at a node's MNT) never
	// waits for a write of the whole status, whose size grows with the cluster.
	bmu     sync.Mutex
	pending map[string]BootRecord
	later   *time.Timer  // a write of the pending boots is due (nil: none)
	tookNs  atomic.Int64 // how long the last write took

	// leases, when set, returns the nodes whose write leases the server holds.
	leases func() map[string]time.Time

	// rejectedN counts the edits rejected since the start (metrics).
	rejectedN atomic.Uint64
}

// bootWriteDelay gathers the boots of a rack that starts at once into few writes of the
// status file (a boot must not wait for it: it is recorded at the node's MNT). The file
// grows with the cluster (1.1 MB and 18 ms a write at 10,000 nodes), so the delay is
// also at least 50 times the last write's duration: writing it takes at most 2 % of a
// core during a boot storm, whatever the cluster's size.
const bootWriteDelay = 200 * time.Millisecond

// bootDelay is the delay before pending boots are written; the caller holds bmu.
func (w *statusWriter) bootDelay() time.Duration {
	return min(max(bootWriteDelay, 50*time.Duration(w.tookNs.Load())), 5*time.Second)
}

// ReadStatus reads a status file.
func ReadStatus(path string) (*Status, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// openStatus starts the status of a server on tablesDir, keeping the boots and rejections
// an earlier server recorded.
func openStatus(path, tablesDir string, log *slog.Logger) *statusWriter {
	w := &statusWriter{path: path, log: log}
	if old, err := ReadStatus(path); err == nil {
		w.st.Boots, w.st.Rejections = old.Boots, old.Rejections
	}
	if w.st.Boots == nil {
		w.st.Boots = map[string]BootRecord{}
	}
	w.st.Running, w.st.PID, w.st.Started, w.st.Tables = true, os.Getpid(), time.Now(), tablesDir
	return w
}

// write saves the status with the boots recorded so far; the caller holds mu.
func (w *statusWriter) write() {
	w.bmu.Lock()
	for n, b := range w.pending {
		w.st.Boots[n] = b
	}
	w.pending = nil
	w.bmu.Unlock()
	start := time.Now()
	defer func() { w.tookNs.Store(int64(time.Since(start))) }()
	w.st.Updated = time.Now()
	b, err := json.MarshalIndent(&w.st, "", "  ")
	if err != nil {
		return
	}
	tmp := w.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err == nil {
		err = os.Rename(tmp, w.path)
		if err != nil {
			w.log.Error("status file not written", "path", w.path, "err", err)
		}
	} else {
		w.log.Error("status file not written", "path", w.path, "err", err)
	}
}

func (w *statusWriter) inForce(s *tables.Snapshot, he tables.HistoryEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.Generation, w.st.StoreGen, w.st.Who, w.st.Since = s.Gen, he.StoreGen, he.Who, time.Now()
	w.st.Nodes = s.Nodes()
	w.st.Pending = nil
	w.write()
}

func (w *statusWriter) rejected(r tables.Rejection) {
	w.rejectedN.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.Rejections = append(w.st.Rejections, r)
	if n := len(w.st.Rejections); n > keptRejections {
		w.st.Rejections = slices.Clone(w.st.Rejections[n-keptRejections:])
	}
	w.st.Pending = &r
	w.write()
}

// storeState records that the table database is unreachable (err) or reachable again.
func (w *statusWriter) setName(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st.Name != name {
		w.st.Name = name
		w.write()
	}
}

func (w *statusWriter) storeState(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.st.StoreDown, w.st.DownSince = "", nil
	} else {
		now := time.Now()
		w.st.StoreDown, w.st.DownSince = err.Error(), &now
	}
	w.write()
}

func (w *statusWriter) settled() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.Pending = nil
	w.write()
}

func (w *statusWriter) boot(node string, b fs.BootRecord) {
	w.bmu.Lock()
	defer w.bmu.Unlock()
	if w.pending == nil {
		w.pending = map[string]BootRecord{}
	}
	w.pending[node] = BootRecord{Time: time.Now(), Epoch: b.Epoch, ImageDir: b.ImageDir, ImageGen: b.ImageGen, TablesGen: b.TablesGen}
	if w.later == nil {
		w.later = time.AfterFunc(w.bootDelay(), func() {
			w.bmu.Lock()
			w.later = nil
			due := len(w.pending) > 0 // else written meanwhile
			w.bmu.Unlock()
			if due {
				w.mu.Lock()
				defer w.mu.Unlock()
				w.write()
			}
		})
	}
}

func (w *statusWriter) served(nodes []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := !slices.Equal(nodes, w.st.Served)
	w.st.Served = nodes
	if w.leases != nil {
		held := w.leases()
		if len(held) != len(w.st.Leases) {
			changed = true
		}
		for n, since := range held {
			if old, ok := w.st.Leases[n]; !ok || !old.Equal(since) {
				changed = true
			}
		}
		w.st.Leases = held
	}
	if changed {
		w.write()
	}
}

func (w *statusWriter) stopped() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.Running = false
	w.write()
}

// Alive reports whether process pid exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
