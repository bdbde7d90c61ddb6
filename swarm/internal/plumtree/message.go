package plumtree

import "strconv"

// Peer names a member of the cluster (memberlist's node name).
type Peer string

// ID names one broadcast: the replica that made it and its sequence number
// among that replica's broadcasts. Origin must change when a node restarts
// (shoal uses "name/incarnation"), so that sequence numbers never repeat.
type ID struct {
	Origin string
	Seq    uint64
}

func (id ID) String() string { return id.Origin + "#" + strconv.FormatUint(id.Seq, 10) }

// Kind says what a Message is.
type Kind uint8

const (
	// Gossip carries a broadcast's payload, pushed eagerly along the tree
	// or sent in answer to a Graft.
	Gossip Kind = iota + 1
	// IHave announces, lazily and in batches, the ids a node has received.
	IHave
	// Graft asks the receiver to make the link eager and, when ID is set,
	// to send that broadcast. A Graft with a zero ID only links, in every
	// tree (a new neighbour announcing itself).
	Graft
	// Prune asks the receiver to make the link lazy in the tree of
	// ID.Origin: its sender got a broadcast of that origin twice. A Prune
	// without an origin (an earlier version's) makes it lazy in every tree.
	Prune
	// Hello, sent periodically to the view, makes the sender a lazy
	// neighbour of a receiver that had forgotten it (it declared the
	// sender failed for a while, say, and missed its return, which
	// PeerUp handles): the receiver then announces to it, and the sender
	// grafts what it misses. Without it, a node whose neighbours all
	// dropped it would receive nothing.
	Hello
)

func (k Kind) String() string {
	switch k {
	case Gossip:
		return "gossip"
	case IHave:
		return "ihave"
	case Graft:
		return "graft"
	case Prune:
		return "prune"
	case Hello:
		return "hello"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Announcement is one id in an IHave, with the hop count at which its
// sender received it.
type Announcement struct {
	ID    ID
	Round uint32
}

// Message is one protocol message, to or from a peer. Which fields are set
// depends on Kind: Gossip has ID, Round and Payload; IHave has
// Announcements; Graft has ID (possibly zero) and Round; Prune has an ID
// with only the origin set.
// The machine never modifies a Payload it was given or returned, so
// payloads may be shared between messages.
type Message struct {
	Kind Kind
	// From is the sender, To the receiver. Step takes From from the
	// message; the caller addresses outgoing messages to To.
	From, To      Peer
	ID            ID
	Round         uint32
	Payload       []byte
	Announcements []Announcement
}
