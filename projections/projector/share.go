package projector

import "tracker/projections"

// Shares lists the share links, newest first.
func (p *Projector) Shares() []projections.ShareLink {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state == nil {
		return nil
	}
	return p.state.ShareList()
}

// Share returns one link by id.
func (p *Projector) Share(id string) (projections.ShareLink, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state == nil {
		return projections.ShareLink{}, false
	}
	l, ok := p.state.Shares[id]
	if !ok {
		return projections.ShareLink{}, false
	}
	return *l, true
}

// ShareByToken returns the link whose token is token (compared in
// constant time, projections.State.ShareByToken).
func (p *Projector) ShareByToken(token string) (projections.ShareLink, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state == nil {
		return projections.ShareLink{}, false
	}
	return p.state.ShareByToken(token)
}
