package swarm

import (
	"errors"
	"fmt"
)

// ErrNoEncryption is returned by the key methods of a node started without
// SecretKeys: encryption cannot be turned on at runtime.
var ErrNoEncryption = errors.New("shoal/swarm: encryption is not enabled (Config.SecretKeys is empty)")

// Rotating the cluster key without downtime takes three steps, each done on
// every node before the next starts: InstallKey(new) (all nodes can now
// decrypt with it), UseKey(new) (nodes encrypt with it), RemoveKey(old).

// InstallKey adds a key used to decrypt (16, 24 or 32 bytes).
func (n *Node) InstallKey(key []byte) error {
	if err := n.keyOp(); err != nil {
		return err
	}
	if err := n.keyring.AddKey(key); err != nil {
		return fmt.Errorf("shoal/swarm: install key: %w", err)
	}
	return nil
}

// UseKey makes an installed key the primary key, used to encrypt.
func (n *Node) UseKey(key []byte) error {
	if err := n.keyOp(); err != nil {
		return err
	}
	if err := n.keyring.UseKey(key); err != nil {
		return fmt.Errorf("shoal/swarm: use key: %w", err)
	}
	return nil
}

// RemoveKey removes a key that is not the primary key.
func (n *Node) RemoveKey(key []byte) error {
	if err := n.keyOp(); err != nil {
		return err
	}
	if err := n.keyring.RemoveKey(key); err != nil {
		return fmt.Errorf("shoal/swarm: remove key: %w", err)
	}
	return nil
}

func (n *Node) keyOp() error {
	if n.closed.Load() {
		return ErrClosed
	}
	if n.keyring == nil {
		return ErrNoEncryption
	}
	return nil
}
