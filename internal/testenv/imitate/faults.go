package imitate

// SetTenants sets how many tenants (organisations, sites, companies) the user grants: the
// metadata call lists n of them (0: none). Want.Metadata describes the first one.
func (im *Imitation) SetTenants(n int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.tenants = im.tenants[:0]
	for i := range n {
		im.tenants = append(im.tenants, im.p.tenant(i))
	}
}

// Tenants returns the tenants the metadata call lists.
func (im *Imitation) Tenants() []Tenant {
	im.mu.Lock()
	defer im.mu.Unlock()
	return append([]Tenant(nil), im.tenants...)
}

// FailMetadata makes the metadata call answer with this HTTP status (0: answer normally).
func (im *Imitation) FailMetadata(status int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.metaErr = status
}

// Deny makes the user refuse consent: Consent answers with the provider's access_denied.
func (im *Imitation) Deny(deny bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.deny = deny
}

// ExpireRefreshTokens ends every refresh token issued so far: the next refresh fails with
// the provider's documented error for an expired refresh token.
func (im *Imitation) ExpireRefreshTokens() {
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, e := range im.refresh {
		e.ended = endExpired
	}
}

// RevokeAuthorization is the user disconnecting the app: every token issued so far stops
// working, and the next refresh fails with the provider's documented error.
func (im *Imitation) RevokeAuthorization() {
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, m := range []map[string]*tokenEntry{im.refresh, im.access} {
		for _, e := range m {
			e.ended = endRevoked
		}
	}
}

// ExpireAccessTokens ends every access token issued so far: the API answers 401.
func (im *Imitation) ExpireAccessTokens() {
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, e := range im.access {
		e.ended = endExpired
	}
}

// metadataState returns the tenants to list and the failure status to answer, if any.
func (im *Imitation) metadataState() ([]Tenant, int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	return append([]Tenant(nil), im.tenants...), im.metaErr
}
