package keyring

import "time"

// WithTimer returns cfg with its timers replaced by timer, which must
// deliver once the clock (cfg.Now) reaches deadline. Tests pair it with a
// fake clock.
func WithTimer(cfg Config, timer func(deadline time.Time) <-chan time.Time) Config {
	cfg.timer = timer
	return cfg
}

// LoopDone returns a channel closed when k's check loop has ended.
func LoopDone(k *Keyring) <-chan struct{} { return k.w.LoopDone() }
