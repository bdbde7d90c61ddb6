package swarm

import (
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
)

// DeriveSecret returns a 32-byte secret for label, derived (HMAC-SHA256)
// from the node's first configured gossip key, Config.SecretKeys[0]; nil
// when the node runs without encryption. Features that need a
// cluster-wide secret of their own, such as a keyed rate limiter's key
// hash, use it so that operators manage one secret. Nodes agree on it only
// if they were started with the same first key: it does not follow
// UseKey, so a rotation takes effect for it at each node's restart, and a
// feature that must agree across a rolling rotation should be given its
// secret explicitly. The result is a fresh slice; the key itself is never
// exposed.
func (n *Node) DeriveSecret(label string) []byte {
	if len(n.cfg.SecretKeys) == 0 {
		return nil
	}
	mac := hmac.New(sha256.New, n.cfg.SecretKeys[0])
	mac.Write([]byte("shoal/derive\x00"))
	mac.Write([]byte(label))
	return mac.Sum(nil)
}

// Logger returns the node's logger (Config.Logger, or one that discards),
// for packages built on the node that log about it.
func (n *Node) Logger() *slog.Logger { return n.log }
