package tasks

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/tetratelabs/wazero"
)

// wasiModule is the only import module a task may use.
const wasiModule = "wasi_snapshot_preview1"

// compiled is one entry of the executor's in-memory module cache. refs counts the Runs
// using it; an evicted entry is closed when its last user releases it.
type compiled struct {
	id       cid.Cid
	ready    chan struct{} // closed when mod or err is set
	mod      wazero.CompiledModule
	memPages uint32 // initial memory the module declares
	err      error
	refs     int
	evicted  bool
	elem     *list.Element // position in the LRU list; nil once evicted
}

// acquire returns the compiled module for id, compiling module if it is not cached (and
// waiting if another caller is compiling it). The caller must release the entry.
func (e *Executor) acquire(ctx context.Context, id cid.Cid, module []byte) (*compiled, error) {
	key := id.KeyString()
	e.mu.Lock()
	c, ok := e.modules[key]
	if ok {
		c.refs++
		e.lru.MoveToFront(c.elem)
		e.mu.Unlock()
		select {
		case <-c.ready:
		case <-ctx.Done():
			e.release(c)
			return nil, ctx.Err()
		}
		if c.err != nil {
			e.release(c)
			return nil, c.err
		}
		return c, nil
	}
	e.mu.Unlock()
	if module == nil {
		return nil, fmt.Errorf("module %s: %w: pass its bytes in Job.Module", id, ErrNotCompiled)
	}
	// Bytes that do not match the ID say nothing about the module the ID names: refuse them
	// without caching, so the right bytes can still arrive.
	if err := checkModuleBytes(id, module); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if _, ok := e.modules[key]; ok { // another caller got there first
		e.mu.Unlock()
		return e.acquire(ctx, id, module)
	}
	c = &compiled{id: id, ready: make(chan struct{}), refs: 1}
	c.elem = e.lru.PushFront(c)
	e.modules[key] = c
	e.evictLocked()
	e.mu.Unlock()

	// Compile outside the lock; others asking for the same module wait on ready. The
	// caller's cancellation must not poison the shared entry.
	c.mod, c.memPages, c.err = e.compile(context.WithoutCancel(ctx), id, module)
	close(c.ready)
	if c.err != nil {
		e.release(c)
		return nil, c.err
	}
	return c, nil
}

// release drops one reference and closes an evicted module when nobody uses it any more.
func (e *Executor) release(c *compiled) {
	e.mu.Lock()
	c.refs--
	closeIt := c.evicted && c.refs == 0 && c.mod != nil
	e.mu.Unlock()
	if closeIt {
		_ = c.mod.Close(context.Background()) // closing compiled code only frees memory
	}
}

// evictLocked drops least recently used entries beyond the cache size. Entries still in use
// are closed by their last release. Must hold e.mu.
func (e *Executor) evictLocked() {
	for e.lru.Len() > e.cfg.MaxCompiledModules {
		c := e.lru.Remove(e.lru.Back()).(*compiled)
		delete(e.modules, c.id.KeyString())
		c.evicted, c.elem = true, nil
		if c.refs == 0 && c.mod != nil {
			_ = c.mod.Close(context.Background()) // frees compiled code only
		}
	}
}

// checkModuleBytes requires module to hash to id.
func checkModuleBytes(id cid.Cid, module []byte) error {
	if err := CheckContentID(id); err != nil {
		return invalidModule("module ID: %v", err)
	}
	if got := ContentID(module); !got.Equals(id) {
		return invalidModule("module bytes hash to %s, not to the module ID %s", got, id)
	}
	return nil
}

// compile compiles module, with the checks that make a module a task: initial memory within
// the node's cap, WASI preview 1 imports only, and a _start export.
func (e *Executor) compile(ctx context.Context, id cid.Cid, module []byte) (wazero.CompiledModule, uint32, error) {
	pages, _ := declaredMemoryPages(module)
	if caps := e.Caps(); pages > caps.MemoryPages {
		return nil, 0, &TaskError{Kind: ErrMemoryLimit, Detail: fmt.Sprintf("module's initial memory of %s is over this node's memory cap of %s",
			formatBytes(uint64(pages)*PageSize), formatBytes(caps.MemoryBytes()))}
	}
	start := time.Now()
	mod, err := e.rt.CompileModule(ctx, module)
	if err != nil && strings.Contains(err.Error(), "threads feature not enabled") {
		return nil, 0, &TaskError{Kind: ErrInvalidModule, Err: err,
			Detail: fmt.Sprintf("module uses threads (%v): the sandbox refuses them because they make results nondeterministic; build the task single-threaded", err)}
	}
	if err != nil {
		return nil, 0, &TaskError{Kind: ErrInvalidModule, Err: err,
			Detail: fmt.Sprintf("module is not valid WebAssembly for this sandbox: %v (build tasks with GOOS=wasip1 GOARCH=wasm)", err)}
	}
	if err := checkTaskShape(mod); err != nil {
		_ = mod.Close(ctx)
		return nil, 0, err
	}
	e.log.Debug("compiled module", "module", id, "bytes", len(module), "took", time.Since(start))
	return mod, pages, nil
}

// checkTaskShape requires a WASI command: every import from wasi_snapshot_preview1, no
// imported memory, and an exported _start.
func checkTaskShape(mod wazero.CompiledModule) error {
	for _, f := range mod.ImportedFunctions() {
		if m, name, _ := f.Import(); m != wasiModule {
			return invalidModule("module imports %s.%s: the sandbox provides only %s (WASI preview 1)", m, name, wasiModule)
		}
	}
	for _, m := range mod.ImportedMemories() {
		mn, name, _ := m.Import()
		return invalidModule("module imports memory %s.%s: a task must define its own memory", mn, name)
	}
	if _, ok := mod.ExportedFunctions()["_start"]; !ok {
		return invalidModule("module exports no _start function: a task must be a WASI command (GOOS=wasip1 GOARCH=wasm go build)")
	}
	return nil
}
