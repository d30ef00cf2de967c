package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"statelite/tables"
)

// keptRejections is how many rejected edits the status file keeps.
const keptRejections = 20

// bootRecord is a node's last boot: the reset of its volatile layer.
type bootRecord struct {
	Time  time.Time `json:"time"`
	Epoch uint64    `json:"epoch"`
}

// serverStatus is what a running server says about itself in <state>/status.json.
type serverStatus struct {
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
	Boots      map[string]bootRecord `json:"boots"`
	Rejections []tables.Rejection    `json:"rejections"`           // the last rejected edits, oldest first
	Pending    *tables.Rejection     `json:"pending,omitempty"`    // the store holds this rejected edit now
	Name       string                `json:"name,omitempty"`       // the server's name (service nodes)
	StoreDown  string                `json:"store_down,omitempty"` // the table database is unreachable: why
	DownSince  *time.Time            `json:"store_down_since,omitempty"`
}

// statusWriter keeps a server's status file up to date.
type statusWriter struct {
	mu   sync.Mutex
	path string
	st   serverStatus
	log  *slog.Logger

	// Boots are gathered apart (bmu), so that recording one (at a node's MNT) never
	// waits for a write of the whole status, whose size grows with the cluster.
	bmu     sync.Mutex
	pending map[string]bootRecord
	later   *time.Timer  // a write of the pending boots is due (nil: none)
	tookNs  atomic.Int64 // how long the last write took
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

// readStatus reads a status file.
func readStatus(path string) (*serverStatus, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st serverStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// openStatus starts the status of a server on tablesDir, keeping the boots and rejections
// an earlier server recorded.
func openStatus(path, tablesDir string, log *slog.Logger) *statusWriter {
	w := &statusWriter{path: path, log: log}
	if old, err := readStatus(path); err == nil {
		w.st.Boots, w.st.Rejections = old.Boots, old.Rejections
	}
	if w.st.Boots == nil {
		w.st.Boots = map[string]bootRecord{}
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

func (w *statusWriter) boot(node string, epoch uint64) {
	w.bmu.Lock()
	defer w.bmu.Unlock()
	if w.pending == nil {
		w.pending = map[string]bootRecord{}
	}
	w.pending[node] = bootRecord{Time: time.Now(), Epoch: epoch}
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
	if slices.Equal(nodes, w.st.Served) {
		return
	}
	w.st.Served = nodes
	w.write()
}

func (w *statusWriter) stopped() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.Running = false
	w.write()
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

const timeFmt = "2006-01-02 15:04:05"

func statusCmd(e *env) *cobra.Command {
	var state string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--state DIR]",
		Short: "Show the running server's tables generation, nodes, last boots and rejected table edits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := statusFile(state)
			st, err := readStatus(path)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no server status in %s (is statelite serve running with --state %s?)", path, state)
			}
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.MarshalIndent(st, "", "  ")
				fmt.Fprintf(e.stdout, "%s\n", b)
				return nil
			}
			printStatus(e, st)
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	c.Flags().BoolVar(&asJSON, "json", false, "print the status file as JSON")
	return c
}

func printStatus(e *env, st *serverStatus) {
	w := e.stdout
	switch {
	case st.Running && alive(st.PID):
		fmt.Fprintf(w, "server:      running (pid %d, since %s)\n", st.PID, st.Started.Local().Format(timeFmt))
	case st.Running:
		fmt.Fprintf(w, "server:      not running (pid %d is gone; last update %s)\n", st.PID, st.Updated.Local().Format(timeFmt))
	default:
		fmt.Fprintf(w, "server:      stopped (%s)\n", st.Updated.Local().Format(timeFmt))
	}
	if st.Name != "" {
		fmt.Fprintf(w, "name:        %s\n", st.Name)
	}
	fmt.Fprintf(w, "tables:      %s\n", st.Tables)
	if st.StoreDown != "" {
		since := ""
		if st.DownSince != nil {
			since = " since " + st.DownSince.Local().Format(timeFmt)
		}
		fmt.Fprintf(w, "STORE DOWN:  the table database is unreachable%s (%s); serving generation %d until it is back\n", since, st.StoreDown, st.Generation)
	}
	fmt.Fprintf(w, "generation:  %d in force since %s (store generation %d; %s)\n", st.Generation, st.Since.Local().Format(timeFmt), st.StoreGen, orUnknown(st.Who))
	fmt.Fprintf(w, "nodes:       %d in nodelist: %s\n", len(st.Nodes), orDash(tables.FoldNodes(st.Nodes)))
	fmt.Fprintf(w, "served:      %d since the start: %s\n", len(st.Served), orDash(tables.FoldNodes(st.Served)))
	if st.Pending != nil {
		fmt.Fprintf(w, "PENDING:     the table directory holds an edit rejected at %s; generation %d stays in force:\n", st.Pending.Time.Local().Format(timeFmt), st.Generation)
		for _, p := range st.Pending.Problems {
			fmt.Fprintf(w, "               %s\n", p)
		}
	}
	nodes := slices.Clone(st.Nodes)
	for n := range st.Boots {
		if !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes)
	fmt.Fprintf(w, "last boots:\n")
	for _, n := range nodes {
		if b, ok := st.Boots[n]; ok {
			fmt.Fprintf(w, "  %-12s %s (volatile epoch %d)\n", n, b.Time.Local().Format(timeFmt), b.Epoch)
		} else {
			fmt.Fprintf(w, "  %-12s none recorded\n", n)
		}
	}
	if len(st.Rejections) == 0 {
		fmt.Fprintf(w, "rejected edits: none\n")
		return
	}
	fmt.Fprintf(w, "rejected edits (oldest first):\n")
	for _, r := range st.Rejections {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s  %s\n", r.Time.Local().Format(timeFmt), p)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "author unknown"
	}
	return s
}
