package public

// crash shuts the channel down without telling the peers, as a killed
// process would.
func (c *Channel) crash() {
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	_ = c.ml.Shutdown()
}
