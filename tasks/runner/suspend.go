package runner

// Suspend stops every runner (SIGSTOP) until Resume: running tasks keep their progress,
// their CPU time does not advance and their wall-time cap does not count the pause. New
// tasks wait for Resume. Where the OS cannot stop a process it returns tasks.ErrNoSuspend
// and tasks go on running.
func (p *Pool) Suspend() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.suspended {
		return nil
	}
	p.suspended = true
	p.resumed = make(chan struct{})
	var err error
	for pr := range p.live {
		if e := p.stopProc(pr); e != nil {
			err = e
		}
	}
	p.log.Info("runners suspended", "runners", len(p.live))
	return err
}

// stopProc suspends one runner. Must hold p.mu.
func (p *Pool) stopProc(pr *proc) error {
	if err := suspendProcess(pr.cmd.Process); err != nil {
		return err
	}
	pr.mu.Lock()
	pr.stopped = true
	pr.mu.Unlock()
	return nil
}

// Resume continues the runners that Suspend stopped (SIGCONT).
func (p *Pool) Resume() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.suspended {
		return nil
	}
	p.suspended = false
	close(p.resumed)
	var err error
	for pr := range p.live {
		pr.mu.Lock()
		stopped := pr.stopped
		pr.stopped = false
		pr.mu.Unlock()
		if stopped {
			if e := resumeProcess(pr.cmd.Process); e != nil {
				err = e
			}
		}
	}
	p.log.Info("runners resumed", "runners", len(p.live))
	return err
}

// isSuspended reports whether the pool is suspended and, if so, the channel Resume closes.
func (p *Pool) isSuspended() (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.suspended, p.resumed
}
