package broker

// OpenConnections counts user's open connections (for tests that must know the
// broker saw a client leave).
func (b *Broker) OpenConnections(user string) int {
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() && string(cl.Properties.Username) == user {
			n++
		}
	}
	return n
}
