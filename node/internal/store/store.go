package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// The datastore is pebble, through go-ds-pebble. Pebble reports on-disk corruption in three
// ways, and the node turns each into one clear error (CorruptionError) instead of pebble's
// default, a FATAL log line with a stack trace and os.Exit(1):
//
//   - Open fails (a malformed MANIFEST, an sst file that is missing or of the wrong size).
//   - A read meets a block whose checksum does not match: pebble calls the event listener's
//     DataCorruption, from the reading goroutine or a background one (compactions, the
//     table statistics loader), and returns an error to the reader. go-ds-pebble's queries
//     drop iterator errors (a corrupt block just ends the results), so the listener is the
//     only reliable signal: Health records it.
//   - Logger.Fatalf, for what pebble cannot go on from (a failed MANIFEST or log write, a
//     broken invariant). Pebble expects Fatalf not to return, so the node hands it to its
//     fatal handler (WithFatalHandler; the daemon prints the error and exits).

// ErrDatastoreCorrupt means the datastore is damaged; errors.As gives a *CorruptionError
// with the file and what to do.
var ErrDatastoreCorrupt = errors.New("datastore is corrupt")

// CorruptionError says what in a node's datastore is damaged and how to get out of it.
type CorruptionError struct {
	DataDir string `json:"-"`
	File    string `json:"file,omitempty"` // the damaged file, when pebble names one
	Detail  string `json:"detail"`         // what pebble found
	// Found is when the running node found it (zero when found while opening).
	Found time.Time `json:"found,omitzero"`
}

func (e *CorruptionError) Error() string {
	what := filepath.Join(e.DataDir, DatastoreDir)
	if e.File != "" {
		what = filepath.Join(what, e.File)
	}
	return fmt.Sprintf("datastore is corrupt: %s: %s. %s", what, e.Detail, RepairAdvice(e.DataDir))
}

// Is makes errors.Is(err, ErrDatastoreCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrDatastoreCorrupt }

// RepairAdvice is what to do about a corrupt datastore in dataDir.
func RepairAdvice(dataDir string) string {
	return fmt.Sprintf("Run `allforone repair --data %s` to check it, then `allforone repair --data %s --move-aside` "+
		"to keep it in %s and start with an empty one (identity, config and keys stay; the node fetches "+
		"running batches, steward state and results again from its peers)", dataDir, dataDir, filepath.Join(dataDir, BackupDir))
}

// Health collects the corruption pebble reports while a datastore is open. Its
// methods are safe from any goroutine and never block (pebble calls them in read paths).
type Health struct {
	dataDir string
	log     *slog.Logger
	fatal   func(error) // Logger.Fatalf; must not return

	mu      sync.Mutex
	corrupt []*CorruptionError // distinct files, the first one first; at most maxCorruptSeen
	seen    chan struct{}      // closed when the first is recorded
}

// maxCorruptSeen bounds the corruptions a Health keeps.
const maxCorruptSeen = 16

func NewHealth(dataDir string, log *slog.Logger, fatal func(error)) *Health {
	return &Health{dataDir: dataDir, log: log, fatal: fatal, seen: make(chan struct{})}
}

// report records a corruption, once per file.
func (h *Health) report(path string, details error) {
	c := &CorruptionError{DataDir: h.dataDir, File: storeFile(h.dataDir, path, details), Detail: pebbleDetail(details), Found: time.Now()}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, old := range h.corrupt {
		if old.File == c.File {
			return
		}
	}
	if len(h.corrupt) >= maxCorruptSeen {
		return
	}
	h.corrupt = append(h.corrupt, c)
	if len(h.corrupt) == 1 {
		close(h.seen)
	}
}

// first returns the first corruption seen, or nil.
func (h *Health) First() *CorruptionError {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.corrupt) == 0 {
		return nil
	}
	c := *h.corrupt[0]
	return &c
}

// all returns the corruptions seen.
func (h *Health) All() []CorruptionError {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]CorruptionError, len(h.corrupt))
	for i, c := range h.corrupt {
		out[i] = *c
	}
	return out
}

func (h *Health) listener() *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) { h.report(info.Path, info.Details) },
		BackgroundError: func(err error) {
			if pebble.IsCorruptionError(err) {
				h.report("", err)
				return
			}
			h.log.Warn("datastore background error", "err", err)
		},
	}
}

// pebbleLogger is pebble's Logger on the node's slog logger.
type pebbleLogger struct{ h *Health }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.h.log.Debug("pebble", "msg", strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.h.log.Warn("pebble", "msg", strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Fatalf does not return: pebble goes on as if the process had ended.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	l.h.log.Error("datastore failed", "err", msg)
	l.h.fatal(fmt.Errorf("datastore %s failed: %s; the node stopped at once. Check the disk (free space, "+
		"errors in the system log), then %s", filepath.Join(l.h.dataDir, DatastoreDir), msg, RepairAdvice(l.h.dataDir)))
	select {} // unreachable unless the handler returned: pebble must not go on
}

// store is an open datastore. Its file system checks for slow disks; pebble closes a
// checker it made itself only when a DB it opened closes, and leaks it when Open fails,
// so the node makes and closes its own.
type Store struct {
	*pebbleds.Datastore
	fsCloser io.Closer
}

// Close closes the datastore, then its file system.
func (s *Store) Close() error {
	err := s.Datastore.Close()
	s.fsCloser.Close()
	return err
}

// Open opens (or creates) the datastore of dataDir. A datastore that pebble cannot
// open for what it holds gives a *CorruptionError.
func Open(dataDir string, h *Health, readOnly bool) (*Store, error) {
	dir := filepath.Join(dataDir, DatastoreDir)
	diskFS, fsCloser := vfs.WithDiskHealthChecks(vfs.Default, 5*time.Second, nil, func(info vfs.DiskSlowInfo) {
		h.log.Warn("disk slow", "op", info.OpType.String(), "path", info.Path, "seconds", info.Duration.Seconds())
	})
	opts := &pebble.Options{FS: diskFS, Logger: pebbleLogger{h}, EventListener: h.listener(), ReadOnly: readOnly}
	pd, err := pebbleds.NewDatastore(dir, pebbleds.WithPebbleOpts(opts))
	if err != nil {
		fsCloser.Close()
		return nil, classifyOpenError(dataDir, err)
	}
	d := &Store{pd, fsCloser}
	// Open reads the MANIFEST and replays the log; this reads every table's footer, index
	// and properties (checksummed), so a damaged or swapped sst is found now, not later.
	if _, err := d.DB.SSTables(pebble.WithProperties()); err != nil {
		d.Close()
		if c := h.First(); c != nil {
			c.Found = time.Time{}
			return nil, c
		}
		return nil, classifyOpenError(dataDir, err)
	}
	if c := h.First(); c != nil {
		d.Close()
		c.Found = time.Time{}
		return nil, c
	}
	return d, nil
}

// classifyOpenError turns pebble's refusal to open into what the user can act on.
func classifyOpenError(dataDir string, err error) error {
	dir := filepath.Join(dataDir, DatastoreDir)
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("open datastore %s: %w (give the user who runs allforone access to it)", dir, err)
	case errors.As(err, &errno) && (errno == syscall.ENOSPC || errno == syscall.EDQUOT):
		return fmt.Errorf("open datastore %s: %w (free some disk space)", dir, err)
	case errors.As(err, &errno) && errno == syscall.EROFS:
		return fmt.Errorf("open datastore %s: %w (the data dir must be on a writable file system)", dir, err)
	case errors.As(err, &errno) && (errno == syscall.EMFILE || errno == syscall.ENFILE) || strings.Contains(err.Error(), "too many open files"):
		// Not damage: the process (or the system) ran out of file descriptors.
		return fmt.Errorf("open datastore %s: %w (this process may open too few files: raise the limit, e.g. `ulimit -n 65536` or LimitNOFILE= in the service unit, and start again; the datastore is not damaged)", dir, err)
	}
	// Anything else pebble refuses (a malformed MANIFEST or OPTIONS file, an sst that is
	// missing, truncated or not a table) is damage to the datastore's files.
	return &CorruptionError{DataDir: dataDir, File: storeFile(dataDir, "", err), Detail: pebbleDetail(err)}
}

var (
	storeFileName = regexp.MustCompile(`\b(\d{6}\.(sst|log|blob)|MANIFEST-\d+|OPTIONS-\d+)\b`)
	storeTableNum = regexp.MustCompile(`\b(?:file|table|L\d+:) (\d{6})\b`)
)

// storeFile names the damaged file relative to the datastore folder: from pebble's path
// when it gives one, else from its message.
func storeFile(dataDir, path string, err error) string {
	if path != "" {
		if rel, e := filepath.Rel(filepath.Join(dataDir, DatastoreDir), path); e == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
		return path
	}
	if err == nil {
		return ""
	}
	msg := err.Error()
	if m := storeFileName.FindString(msg); m != "" {
		return m
	}
	if m := storeTableNum.FindStringSubmatch(msg); m != nil {
		return m[1] + ".sst"
	}
	return ""
}

// pebbleDetail is pebble's message without go-ds-pebble's prefix.
func pebbleDetail(err error) string {
	if err == nil {
		return "corrupt"
	}
	s := strings.TrimPrefix(err.Error(), "failed to open pebble database: ")
	s = strings.TrimPrefix(s, "pebble: ")
	return strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
}

// MarkCorrupt records c in the datastore folder, so the next start refuses it.
func MarkCorrupt(dataDir string, c *CorruptionError) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dataDir, DatastoreDir, corruptMarkFile), b, 0o600)
}

// ReadCorruptMark returns the corruption a running node recorded, or nil.
func ReadCorruptMark(dataDir string) *CorruptionError {
	b, err := os.ReadFile(filepath.Join(dataDir, DatastoreDir, corruptMarkFile))
	if err != nil {
		return nil
	}
	c := &CorruptionError{}
	if json.Unmarshal(b, c) != nil || c.Detail == "" {
		c = &CorruptionError{Detail: "a running node found it corrupt (" + corruptMarkFile + " is unreadable)"}
	}
	c.DataDir = dataDir
	if !c.Found.IsZero() {
		c.Detail = fmt.Sprintf("%s (found by the running node at %s)", c.Detail, c.Found.Format(time.RFC3339))
	}
	return c
}

// ClearCorruptMark removes the corruption mark.
func ClearCorruptMark(dataDir string) error {
	err := os.Remove(filepath.Join(dataDir, DatastoreDir, corruptMarkFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Seen is closed when the first corruption is recorded.
func (h *Health) Seen() <-chan struct{} { return h.seen }
