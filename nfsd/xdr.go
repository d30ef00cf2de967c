package nfsd

import "statelite/nfsd/wire"

// writer encodes a reply: XDR (wire.W) and what a READ's reply still has to read while
// it is sent.
type writer struct {
	wire.W
	late *lateData // part of B still to be read while the reply is sent (READ)
	// bigTurn: the reply took a turn of big work (acquireBig), released once it is made
	bigTurn bool
}
